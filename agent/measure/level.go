package measure

import (
	"runtime"
	"sync/atomic"
)

// Level is a gauge that goes up and down by one (requests in flight, requests queued) and
// yields its exact time-weighted average and maximum per interval. Writers never lock or wait.
//
// The integral of the level up to time t is I(t) = Σ_finished(end−start) + Σ_active(t−start)
// = g + n·t with g = Σ end − Σ start (over events seen) and n the current level, so a writer
// updates two counters and a reader needs them from one instant. begun/ended bracket every
// write: a reader that sees ended == begun around its reads saw no write in between.
type Level struct {
	begun atomic.Uint64
	n     atomic.Int64
	g     atomic.Int64 // nanoseconds; wraps harmlessly, only differences are used
	ended atomic.Uint64
	max   atomic.Int64
}

// Up raises the level by one at now (nanoseconds on the recorder's clock).
func (l *Level) Up(now int64) {
	l.begun.Add(1)
	v := l.n.Add(1)
	l.g.Add(-now)
	l.ended.Add(1)
	for m := l.max.Load(); v > m; m = l.max.Load() {
		if l.max.CompareAndSwap(m, v) {
			break
		}
	}
}

// Down lowers the level by one at now.
func (l *Level) Down(now int64) {
	l.begun.Add(1)
	l.n.Add(-1)
	l.g.Add(now)
	l.ended.Add(1)
}

// Value is the current level.
func (l *Level) Value() int64 { return l.n.Load() }

// integral returns I(now) and the level at one instant. A write takes nanoseconds, so the
// retry loop ends at once in practice; after many tries it yields the processor to the writer.
func (l *Level) integral(now int64) (i, n int64) {
	for try := 0; ; try++ {
		e := l.ended.Load()
		g, n := l.g.Load(), l.n.Load()
		if l.begun.Load() == e {
			return g + n*now, n
		}
		if try > 100 {
			runtime.Gosched()
		}
	}
}

// takeMax returns the maximum since the last call and restarts it from the current level.
func (l *Level) takeMax(current int64) int64 {
	return max(l.max.Swap(current), current)
}
