package model

import (
	"container/heap"
	"time"
)

// Request is one request at a replica. The replica sets FirstToken; the caller owns the rest.
type Request struct {
	// Arrive is when the request reached the replica.
	Arrive time.Duration
	// Prompt and Output are its tokens.
	Prompt, Output int32
	// FirstToken is when the first output token was produced (end of prefill).
	FirstToken time.Duration
	// Tag is the caller's, e.g. an index into its own records.
	Tag int32

	finishV float64 // virtual decode time at which the last token is out
	need    int64   // KV-cache tokens reserved
}

// Done is called once per request the replica finishes, at the time it finished. ok is false
// for a request the replica refused (it needs more KV cache than the replica has).
type Done func(r *Request, at time.Duration, ok bool)

// Replica is one model server with continuous batching, simulated event by event and lazily:
// nothing happens until AdvanceTo or Arrive moves its clock.
//
// Admitted requests (at most Slots, and only while their prompt plus output tokens fit in the
// KV cache, reserved on admission) are prefilled one at a time, first come first served; a
// prefill pauses decoding, as a server that schedules prefills first does. Between prefills
// every admitted request that has had its prefill produces one token per decode step, and a
// step lasts DecodeBase + DecodePerSeq × the running requests. The rest wait in FIFO order.
// Decode progress is kept as a virtual time v (tokens each running request has produced since
// the replica started), so a step-size change costs nothing per request: a request finishes
// when v reaches its finishV.
type Replica struct {
	cfg  *Config
	done Done
	now  time.Duration

	waiting    queue
	prefill    queue
	prefilling bool
	prefillEnd time.Duration
	decoding   finishHeap
	v          float64
	kvUsed     int64

	busy time.Duration // time with at least one admitted request
}

// NewReplica returns an idle replica whose clock starts at now.
func NewReplica(cfg *Config, now time.Duration, done Done) *Replica {
	return &Replica{cfg: cfg, done: done, now: now}
}

// InFlight is the number of requests at the replica: waiting, prefilling or decoding.
func (p *Replica) InFlight() int { return p.waiting.len() + p.admitted() }

// Waiting is the number of requests not yet admitted (vLLM's num_requests_waiting).
func (p *Replica) Waiting() int { return p.waiting.len() }

// Running is the number of admitted requests (vLLM's num_requests_running).
func (p *Replica) Running() int { return p.admitted() }

// Busy is the total time the replica had at least one admitted request, up to its clock.
func (p *Replica) Busy() time.Duration { return p.busy }

// Now is the replica's clock.
func (p *Replica) Now() time.Duration { return p.now }

func (p *Replica) admitted() int { return p.prefill.len() + len(p.decoding) }

// Arrive advances the replica to at and queues r, which the replica keeps until it calls Done.
func (p *Replica) Arrive(r *Request, at time.Duration) {
	p.AdvanceTo(at)
	r.Arrive = at
	r.need = int64(r.Prompt) + int64(r.Output)
	if kv := p.cfg.KVCacheTokens; kv > 0 && r.need > kv {
		p.done(r, at, false)
		return
	}
	p.waiting.push(r)
	p.AdvanceTo(at)
}

// NextEvent is when the replica's state next changes by itself; false when it is idle.
func (p *Replica) NextEvent() (time.Duration, bool) {
	switch {
	case p.prefilling:
		return p.prefillEnd, true
	case p.prefill.len() > 0:
		return p.now, true
	case len(p.decoding) > 0:
		return p.now + p.decodeLeft(p.decoding[0].finishV), true
	}
	return 0, false
}

func (p *Replica) step(running int) float64 {
	return float64(p.cfg.DecodeBase.Duration) + float64(p.cfg.DecodePerSeq.Duration)*float64(running)
}

func (p *Replica) decodeLeft(finishV float64) time.Duration {
	return time.Duration((finishV - p.v) * p.step(len(p.decoding)))
}

func (p *Replica) prefillTime(r *Request) time.Duration {
	return p.cfg.PrefillBase.Duration + time.Duration(r.Prompt)*p.cfg.PrefillPerToken.Duration
}

// AdvanceTo runs the replica up to t, finishing every request due by then.
func (p *Replica) AdvanceTo(t time.Duration) {
	for {
		p.admit()
		switch {
		case p.prefilling || p.prefill.len() > 0:
			if !p.prefilling {
				p.prefilling, p.prefillEnd = true, p.now+p.prefillTime(p.prefill.peek())
			}
			if p.prefillEnd > t {
				p.busy += t - p.now
				p.now = t
				return
			}
			p.busy += p.prefillEnd - p.now
			p.now = p.prefillEnd
			p.prefilling = false
			r := p.prefill.pop()
			r.FirstToken = p.now
			if r.Output <= 1 {
				p.finish(r)
				continue
			}
			r.finishV = p.v + float64(r.Output-1)
			heap.Push(&p.decoding, r)
		case len(p.decoding) > 0:
			top := p.decoding[0].finishV
			end := p.now + p.decodeLeft(top)
			if end > t {
				p.v += float64(t-p.now) / p.step(len(p.decoding))
				p.busy += t - p.now
				p.now = t
				return
			}
			p.busy += end - p.now
			p.now = end
			p.v = top
			for len(p.decoding) > 0 && p.decoding[0].finishV <= p.v {
				p.finish(heap.Pop(&p.decoding).(*Request))
			}
		default:
			p.now = max(p.now, t)
			return
		}
	}
}

func (p *Replica) finish(r *Request) {
	p.kvUsed -= r.need
	p.done(r, p.now, true)
}

// admit moves waiting requests in FIFO order into the batch while slots and KV cache allow.
func (p *Replica) admit() {
	for p.waiting.len() > 0 && p.admitted() < p.cfg.Slots {
		r := p.waiting.peek()
		if kv := p.cfg.KVCacheTokens; kv > 0 && p.kvUsed+r.need > kv {
			return
		}
		p.waiting.pop()
		p.kvUsed += r.need
		p.prefill.push(r)
	}
}

// Drop removes every request still at the replica (the pod was killed) and returns them.
func (p *Replica) Drop() []*Request {
	var out []*Request
	for p.waiting.len() > 0 {
		out = append(out, p.waiting.pop())
	}
	for p.prefill.len() > 0 {
		out = append(out, p.prefill.pop())
	}
	out = append(out, p.decoding...)
	p.decoding = p.decoding[:0]
	p.prefilling = false
	p.kvUsed = 0
	return out
}

// queue is a FIFO of requests that reuses its backing array.
type queue struct {
	items []*Request
	head  int
}

func (q *queue) len() int { return len(q.items) - q.head }

func (q *queue) push(r *Request) {
	if q.head > 0 && q.head == len(q.items) {
		q.items, q.head = q.items[:0], 0
	}
	q.items = append(q.items, r)
}

func (q *queue) peek() *Request { return q.items[q.head] }

func (q *queue) pop() *Request {
	r := q.items[q.head]
	q.items[q.head] = nil
	q.head++
	if q.head > 1024 && q.head*2 > len(q.items) {
		n := copy(q.items, q.items[q.head:])
		q.items, q.head = q.items[:n], 0
	}
	return r
}

// finishHeap orders decoding requests by finishV.
type finishHeap []*Request

func (h finishHeap) Len() int           { return len(h) }
func (h finishHeap) Less(i, j int) bool { return h[i].finishV < h[j].finishV }
func (h finishHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *finishHeap) Push(x any)        { *h = append(*h, x.(*Request)) }
func (h *finishHeap) Pop() any {
	old := *h
	r := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return r
}
