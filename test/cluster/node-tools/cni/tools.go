//go:build tools

// Package tools pins the CNI plugins bridge, host-local and loopback
// for the kubelet node in the qemu VM (built static by
// test/cluster/node-bootstrap) so `go mod tidy` keeps its dependencies.
// Test tooling only: nothing here ships.
package tools

import (
	_ "github.com/containernetworking/plugins/plugins/ipam/host-local"
	_ "github.com/containernetworking/plugins/plugins/main/bridge"
	_ "github.com/containernetworking/plugins/plugins/main/loopback"
)
