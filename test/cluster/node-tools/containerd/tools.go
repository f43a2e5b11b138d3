//go:build tools

// Package tools pins containerd, containerd-shim-runc-v2 and ctr
// for the kubelet node in the qemu VM (built static by
// test/cluster/node-bootstrap) so `go mod tidy` keeps its dependencies.
// Test tooling only: nothing here ships.
package tools

import (
	_ "github.com/containerd/containerd/v2/cmd/containerd"
	_ "github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2"
	_ "github.com/containerd/containerd/v2/cmd/ctr"
)
