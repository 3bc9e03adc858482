//go:build !linux

package proxy

import "net"

// peekIdle cannot look without blocking here; a dead pooled connection then costs a 502 for
// requests that are not safe to resend. The agent runs on Linux.
func peekIdle(net.Conn) bool { return true }
