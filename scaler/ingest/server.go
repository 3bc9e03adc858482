package ingest

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"time"

	"github.com/go-logr/logr"
	"sigs.k8s.io/controller-runtime/pkg/certwatcher"
	"sigs.k8s.io/controller-runtime/pkg/manager"
)

// Server serves the report endpoint over TLS with the certificate in CertDir (tls.crt,
// tls.key), reloaded when the files change. Every replica serves: a follower answers 503.
type Server struct {
	Addr    string
	CertDir string
	Handler http.Handler
	Log     logr.Logger
}

var (
	_ manager.Runnable               = (*Server)(nil)
	_ manager.LeaderElectionRunnable = (*Server)(nil)
)

// NeedLeaderElection is false: followers must answer (503) rather than time out.
func (s *Server) NeedLeaderElection() bool { return false }

// Start serves until ctx ends, then drains for up to 10 s.
func (s *Server) Start(ctx context.Context) error {
	cw, err := certwatcher.New(filepath.Join(s.CertDir, "tls.crt"), filepath.Join(s.CertDir, "tls.key"))
	if err != nil {
		return fmt.Errorf("load serving certificate from %s: %w", s.CertDir, err)
	}
	go func() {
		if err := cw.Start(ctx); err != nil {
			s.Log.Error(err, "Certificate watcher stopped")
		}
	}()
	mux := http.NewServeMux()
	mux.Handle(Path, s.Handler)
	srv := newHTTPServer(mux)
	srv.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: cw.GetCertificate}
	ln, err := net.Listen("tcp", s.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", s.Addr, err)
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.ServeTLS(ln, "", "") }()
	s.Log.Info("Serving reports", "addr", s.Addr)
	select {
	case err := <-errc:
		return fmt.Errorf("serve reports: %w", err)
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("shut down report server: %w", err)
	}
	return nil
}

// newHTTPServer bounds what one connection may hold: a report is at most 256 KiB sent over
// the cluster network, so a client that takes seconds over its headers or body is stalling,
// and its connection is closed rather than kept.
func newHTTPServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 2 * time.Second,
		ReadTimeout:       5 * time.Second,
		WriteTimeout:      10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    16 << 10,
	}
}
