//go:build tools

// Package tools pins the helm CLI used by the chart tests (test tooling only; nothing here ships).
package tools

import (
	_ "helm.sh/helm/v4/cmd/helm"
)
