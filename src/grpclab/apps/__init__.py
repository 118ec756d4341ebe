"""What runs in the pods: the greeter server (``grpclab-server``), its client
(``grpclab-client``) and the protos both speak. Needs grpcio, grpcio-health-checking and protobuf
only."""
