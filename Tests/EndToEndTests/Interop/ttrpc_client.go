// Interop check with the reference ttrpc implementation (containerd/ttrpc, as
// packaged by Debian): calls graphd.v1.Graph/Health and Stats and an unknown
// method, and prints one line per call: "<method> <grpc code> <detail>".
//
// Build: GO111MODULE=off GOPATH=/usr/share/gocode go build -o ttrpc-interop ttrpc_client.go
package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/containerd/ttrpc"
	"github.com/gogo/protobuf/proto"
	"github.com/gogo/protobuf/types"
	"google.golang.org/grpc/status"
)

// healthResponse mirrors graphd.v1.HealthResponse (status = 1, version = 2).
type healthResponse struct {
	Status  int32  `protobuf:"varint,1,opt,name=status,proto3"`
	Version string `protobuf:"bytes,2,opt,name=version,proto3"`
}

func (m *healthResponse) Reset()         { *m = healthResponse{} }
func (m *healthResponse) String() string { return proto.CompactTextString(m) }
func (*healthResponse) ProtoMessage()    {}

// statsResponse mirrors the first fields of graphd.v1.StatsResponse.
type statsResponse struct {
	Nodes uint64 `protobuf:"varint,1,opt,name=nodes,proto3"`
	Edges uint64 `protobuf:"varint,2,opt,name=edges,proto3"`
}

func (m *statsResponse) Reset()         { *m = statsResponse{} }
func (m *statsResponse) String() string { return proto.CompactTextString(m) }
func (*statsResponse) ProtoMessage()    {}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: ttrpc-interop SOCKET")
		os.Exit(2)
	}
	conn, err := net.Dial("unix", os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "dial:", err)
		os.Exit(1)
	}
	client := ttrpc.NewClient(conn)
	defer client.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	var health healthResponse
	err = client.Call(ctx, "graphd.v1.Graph", "Health", &types.Empty{}, &health)
	fmt.Printf("Health %d status=%d version=%s\n", status.Code(err), health.Status, health.Version)

	var stats statsResponse
	err = client.Call(ctx, "graphd.v1.Graph", "Stats", &types.Empty{}, &stats)
	fmt.Printf("Stats %d nodes=%d edges=%d\n", status.Code(err), stats.Nodes, stats.Edges)

	var empty types.Empty
	err = client.Call(ctx, "graphd.v1.Graph", "NoSuchMethod", &types.Empty{}, &empty)
	fmt.Printf("NoSuchMethod %d %s\n", status.Code(err), status.Convert(err).Message())
}
