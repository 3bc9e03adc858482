package proxy

import (
	"context"
	"errors"

	"github.com/inferscale/inferscale/agent/measure"
)

var errQueueFull = errors.New("queue full")

// breaker admits at most a fixed number of requests at once and lets a bounded number wait,
// in arrival order (Knative's queue-proxy breaker, reduced to what the agent needs).
type breaker struct {
	slots    chan struct{}
	waiting  chan struct{} // capacity is the queue size; a token per waiting request
	released func()
}

func newBreaker(concurrency, queue int) *breaker {
	b := &breaker{slots: make(chan struct{}, concurrency), waiting: make(chan struct{}, queue)}
	b.released = func() { <-b.slots }
	return b
}

// acquire takes a slot, waiting in the queue (counted in q) while none is free. It fails with
// errQueueFull when the queue is full, or with ctx's error when the client gives up.
func (b *breaker) acquire(ctx context.Context, q *measure.Level, rec *measure.Recorder) (release func(), err error) {
	select {
	case b.slots <- struct{}{}:
		return b.released, nil
	default:
	}
	select {
	case b.waiting <- struct{}{}:
	default:
		return nil, errQueueFull
	}
	_, now := rec.Now()
	q.Up(now)
	defer func() {
		<-b.waiting
		_, now := rec.Now()
		q.Down(now)
	}()
	select {
	case b.slots <- struct{}{}:
		return b.released, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
