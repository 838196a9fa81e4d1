module peerlab/benches/go

go 1.19
