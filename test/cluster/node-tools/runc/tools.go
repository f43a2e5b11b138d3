//go:build tools

// Package tools pins runc for the kubelet node in the qemu VM (built static by
// test/cluster/node-bootstrap) so `go mod tidy` keeps its dependencies.
// Test tooling only: nothing here ships.
package tools

import (
	_ "github.com/opencontainers/runc"
)
