// Package esdbpb holds the Go code generated from Chronicle's own .proto
// definitions of the KurrentDB (EventStoreDB) gRPC client protocol: the
// Streams, ServerFeatures and Gossip services. The server in package
// kurrentserver and the client in package kurrent share it.
//
// The definitions are in proto/; regenerate with go generate, which needs
// protoc, protoc-gen-go and protoc-gen-go-grpc on PATH.
package esdbpb

// The M option maps google/rpc/status.proto onto the Go package that gRPC
// already links, so that google.rpc.Status is not registered twice.
//go:generate protoc -I proto --go_out=. --go_opt=module=github.com/chronicle-es/chronicle/internal/esdbpb --go-grpc_out=. --go-grpc_opt=module=github.com/chronicle-es/chronicle/internal/esdbpb --go_opt=Mgoogle/rpc/status.proto=google.golang.org/genproto/googleapis/rpc/status --go-grpc_opt=Mgoogle/rpc/status.proto=google.golang.org/genproto/googleapis/rpc/status chronicle/esdb/shared.proto chronicle/esdb/streams.proto chronicle/esdb/serverfeatures.proto chronicle/esdb/gossip.proto
