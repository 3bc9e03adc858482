package proxy

import (
	"net"
	"syscall"
)

// peekIdle tells whether an idle connection is still open and silent: a non-blocking peek
// finds nothing to read (EAGAIN) rather than EOF or stray bytes. A read deadline in the past
// cannot tell: Go fails such a read before asking the kernel.
func peekIdle(c net.Conn) bool {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return true
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	idle := false
	err = rc.Read(func(fd uintptr) bool {
		var b [1]byte
		_, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		idle = err == syscall.EAGAIN
		return true // never wait for readability
	})
	return err == nil && idle
}
