package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// step is one phase of a load profile: a request rate held for a duration.
type step struct {
	For time.Duration
	RPS float64
}

// profile is a sequence of steps, e.g. "20s@0,40s@40,30s@150,60s@0".
type profile []step

func parseProfile(s string) (profile, error) {
	var p profile
	for i, part := range strings.Split(s, ",") {
		d, r, ok := strings.Cut(strings.TrimSpace(part), "@")
		if !ok {
			return nil, fmt.Errorf("profile step %d %q: want DURATION@RPS, e.g. 30s@50", i, part)
		}
		dur, err := time.ParseDuration(d)
		if err != nil || dur <= 0 {
			return nil, fmt.Errorf("profile step %d %q: duration must be positive, e.g. 30s", i, part)
		}
		rps, err := strconv.ParseFloat(r, 64)
		if err != nil || rps < 0 {
			return nil, fmt.Errorf("profile step %d %q: rate must be a number >= 0", i, part)
		}
		p = append(p, step{For: dur, RPS: rps})
	}
	if len(p) == 0 {
		return nil, fmt.Errorf("profile is empty")
	}
	return p, nil
}

// rateAt is the offered rate at elapsed time t, and false once the profile is over.
func (p profile) rateAt(t time.Duration) (float64, bool) {
	for _, s := range p {
		if t < s.For {
			return s.RPS, true
		}
		t -= s.For
	}
	return 0, false
}

// Duration is the length of the whole profile.
func (p profile) Duration() time.Duration {
	var d time.Duration
	for _, s := range p {
		d += s.For
	}
	return d
}
