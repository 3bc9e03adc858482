package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// runLock makes cluster runs on one machine take turns: they share ports, the node address
// and the work directory, and a second run's cleanup of "an earlier run" would otherwise
// destroy a live one. The lock is an flock, so the kernel releases it when its holder dies and
// the next run then cleans up what the dead one left.
type runLock struct {
	path string
	file *os.File
}

// acquireRunLock waits until no other run holds the lock at path, telling log once that it
// waits.
func acquireRunLock(ctx context.Context, path string, log io.Writer) (*runLock, error) {
	told := false
	for {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
		if err != nil {
			return nil, fmt.Errorf("open run lock: %w", err)
		}
		err = unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			// The holder before removes the file as it lets go; holding the lock on a removed
			// file would let a later run create a new one and hold that too.
			if samePath(f, path) {
				return &runLock{path: path, file: f}, nil
			}
			f.Close()
			continue
		}
		f.Close()
		if !errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		if !told {
			fmt.Fprintf(log, "cluster: another cluster run holds %s; waiting for it to end\n", path)
			told = true
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("wait for run lock %s: %w", path, ctx.Err())
		case <-time.After(time.Second):
		}
	}
}

func samePath(f *os.File, path string) bool {
	held, err := f.Stat()
	if err != nil {
		return false
	}
	now, err := os.Stat(path)
	if err != nil {
		return false
	}
	return os.SameFile(held, now)
}

// release removes the lock file, then unlocks it by closing it.
func (l *runLock) release() error {
	err := os.Remove(l.path)
	if closeErr := l.file.Close(); closeErr != nil {
		err = errors.Join(err, closeErr)
	}
	if err != nil {
		return fmt.Errorf("release run lock: %w", err)
	}
	return nil
}
