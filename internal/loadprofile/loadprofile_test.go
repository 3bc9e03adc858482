package loadprofile

import (
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	p, err := Parse("10s@0, 20s@40,5s@2.5")
	if err != nil {
		t.Fatal(err)
	}
	if p.Duration() != 35*time.Second {
		t.Fatalf("duration %s", p.Duration())
	}
	for _, tc := range []struct {
		at   time.Duration
		rate float64
		ok   bool
	}{{0, 0, true}, {10 * time.Second, 40, true}, {34 * time.Second, 2.5, true}, {35 * time.Second, 0, false}} {
		if r, ok := p.RateAt(tc.at); r != tc.rate || ok != tc.ok {
			t.Errorf("RateAt(%s) = %v, %v; want %v, %v", tc.at, r, ok, tc.rate, tc.ok)
		}
	}
	for _, bad := range []string{"", "10s", "x@3", "10s@-1", "0s@5", "10s@fast", "10s@NaN"} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) accepted", bad)
		}
	}
}
