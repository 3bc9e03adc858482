package decision

import (
	"math"

	reportv1 "github.com/inferscale/inferscale/api/report/v1"
	"github.com/inferscale/inferscale/scaler/window"
)

// evidenced returns w with every pod's values capped at the largest value any other pod has,
// so that what it recommends rests on at least two pods: one pod alone, reporting whatever it
// likes, adds nothing. Latency sketches are target-wide and cannot be split by pod; they are
// kept only when at least two pods served requests in the window. Burst mode moves past the
// scale-up rate policies only by what this window recommends (see Autoscaler.Decide).
func evidenced(w *Window) Window {
	out := Window{Window: w.Window, Pods: make(map[string]window.PodStats, len(w.Pods))}
	var rate, inFlight, queue top2
	var gpu [reportv1.NumGPUSignals]top2
	model := map[string]*top2{}
	serving := 0
	for _, st := range w.Pods {
		rate.add(st.RequestRate)
		inFlight.add(st.InFlight)
		queue.add(st.Queue)
		for i := range gpu {
			if st.GPU.Has[i] {
				gpu[i].add(st.GPU.Signals[i])
			}
		}
		for k, v := range st.ModelMetrics {
			t := model[k]
			if t == nil {
				t = &top2{first: math.Inf(-1), second: math.Inf(-1)}
				model[k] = t
			}
			t.add(v)
		}
		if st.Requests > 0 {
			serving++
		}
	}
	for name, st := range w.Pods {
		st.RequestRate = rate.capped(st.RequestRate)
		st.InFlight = inFlight.capped(st.InFlight)
		st.Queue = queue.capped(st.Queue)
		for i := range gpu {
			if st.GPU.Has[i] {
				st.GPU.Signals[i] = gpu[i].capped(st.GPU.Signals[i])
			}
		}
		if len(st.ModelMetrics) > 0 {
			m := make(map[string]float64, len(st.ModelMetrics))
			for k, v := range st.ModelMetrics {
				if c := model[k].capped(v); !math.IsInf(c, -1) {
					m[k] = c
				}
			}
			st.ModelMetrics = m
		}
		out.Pods[name] = st
	}
	if serving >= 2 {
		out.Latency, out.TimeToFirstByte, out.TimePerOutputToken = w.Latency, w.TimeToFirstByte, w.TimePerOutputToken
	}
	return out
}

// top2 tracks the two largest values seen; the zero value suits values that are not negative.
type top2 struct{ first, second float64 }

func (t *top2) add(v float64) {
	switch {
	case v > t.first:
		t.first, t.second = v, t.first
	case v > t.second:
		t.second = v
	}
}

// capped is v bounded by the largest value among the others: the second largest for the
// largest (ties give it its own value back).
func (t *top2) capped(v float64) float64 {
	if v >= t.first {
		return t.second
	}
	return v
}
