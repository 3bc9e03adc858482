package workload

import (
	"math"
	"testing"
	"time"
)

func TestSyntheticRatesAndDeterminism(t *testing.T) {
	segs := []Segment{{For: 100 * time.Second, RPS: 50}, {For: 50 * time.Second, RPS: 0}, {For: 100 * time.Second, RPS: 10}}
	for _, arr := range []Arrivals{{Kind: "poisson"}, {Kind: "uniform"}, {Kind: "gamma", CV: 3}} {
		a, err := Synthetic(segs, arr, 100, 20, 7)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := Synthetic(segs, arr, 100, 20, 7)
		if len(a) != len(b) || a[len(a)/2] != b[len(b)/2] {
			t.Errorf("%s: two runs with one seed differ", arr.Kind)
		}
		var first, idle, last int
		for _, r := range a {
			switch {
			case r.At < 100*time.Second:
				first++
			case r.At < 150*time.Second:
				idle++
			default:
				last++
			}
		}
		// Poisson: 5000 ± 4σ (σ≈71); gamma CV 3 is far burstier: ±25 %.
		tol := 0.06
		if arr.Kind == "gamma" {
			tol = 0.25
		}
		if math.Abs(float64(first)-5000) > tol*5000 || idle != 0 || math.Abs(float64(last)-1000) > 2.5*tol*1000 {
			t.Errorf("%s: %d, %d, %d requests in the three segments; want about 5000, 0, 1000", arr.Kind, first, idle, last)
		}
	}
}

func TestScale(t *testing.T) {
	reqs := []Request{{0, 1, 1}, {time.Second, 2, 2}, {2 * time.Second, 3, 3}, {4 * time.Second, 4, 4}}
	out, err := Scale(reqs, 10, 2, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 40 || Span(out) < 2*time.Second || Span(out) > 2500*time.Millisecond {
		t.Errorf("%d requests over %s, want 40 over 2s to 2.5s", len(out), Span(out))
	}
	for i := 1; i < len(out); i++ {
		if out[i].At < out[i-1].At {
			t.Fatal("not in time order")
		}
	}
	if _, err := Scale(reqs, 0, 1, 1); err == nil {
		t.Error("rate scale 0 accepted")
	}
}

func TestProfilesRefuseBadInput(t *testing.T) {
	if _, err := Diurnal(0, 1, 2, time.Hour); err == nil {
		t.Error("zero period accepted")
	}
	if _, err := OnOff(time.Second, time.Second, -1, time.Minute); err == nil {
		t.Error("negative rate accepted")
	}
	if _, err := Synthetic([]Segment{{For: time.Hour, RPS: 1e5}}, Arrivals{}, 1, 1, 1); err == nil {
		t.Error("a profile of 360M requests accepted")
	}
	if _, err := ParseArrivals("gamma:0"); err == nil {
		t.Error("gamma:0 accepted")
	}
}
