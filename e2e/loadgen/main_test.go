package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

func TestParseProfile(t *testing.T) {
	p, err := parseProfile("10s@0, 20s@40,5s@2.5")
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
		if r, ok := p.rateAt(tc.at); r != tc.rate || ok != tc.ok {
			t.Errorf("rateAt(%s) = %v, %v; want %v, %v", tc.at, r, ok, tc.rate, tc.ok)
		}
	}
	for _, bad := range []string{"", "10s", "x@3", "10s@-1", "0s@5", "10s@fast"} {
		if _, err := parseProfile(bad); err == nil {
			t.Errorf("parseProfile(%q) accepted", bad)
		}
	}
}

// TestRunCountsEveryRequest drives a real server on loopback and checks that
// every sent request is accounted for as completed or failed.
func TestRunCountsEveryRequest(t *testing.T) {
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1)%10 == 0 {
			http.Error(w, "overloaded", http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()

	var out bytes.Buffer
	run(context.Background(), profile{{For: 2 * time.Second, RPS: 50}}, srv.URL, 100, 5*time.Second, &out)

	var sent, completed, errs int
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		var s Second
		if err := json.Unmarshal(sc.Bytes(), &s); err != nil {
			t.Fatalf("bad line %q: %v", sc.Text(), err)
		}
		sent += s.Sent
		completed += s.Completed
		errs += s.Errors
	}
	if sent < 90 || sent > 110 {
		t.Fatalf("sent %d requests at 50/s for 2s", sent)
	}
	if completed+errs != sent || errs == 0 {
		t.Fatalf("sent %d, completed %d, errors %d: every request must be counted once, the 503s as errors", sent, completed, errs)
	}
}
