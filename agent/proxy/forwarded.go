package proxy

import (
	"net"
	"net/http"
	"slices"
	"strings"
)

// Forwarded is what the proxy does with the forwarding headers a client sent (the values
// of agentv1.Config.ForwardedHeaders).
type Forwarded string

const (
	// ForwardedStrip removes the client's forwarding headers; the model gets X-Forwarded-For
	// with the address that connected to the agent. The zero value means this.
	ForwardedStrip Forwarded = "strip"
	// ForwardedAppend passes them and appends that address to X-Forwarded-For.
	ForwardedAppend Forwarded = "append"
	// ForwardedPreserve passes them as they came and adds nothing.
	ForwardedPreserve Forwarded = "preserve"
)

// forwardingHeaders are the headers that name a client or how it connected, in canonical form.
var forwardingHeaders = []string{"Forwarded", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto", "X-Real-Ip"}

func isForwarding(key string) bool { return slices.Contains(forwardingHeaders, key) }

// passes reports whether the client's header key (canonical) reaches the model as it came.
// X-Forwarded-For under append is rebuilt by forwardedFor instead.
func (f Forwarded) passes(key string) bool {
	if !isForwarding(key) {
		return true
	}
	switch f {
	case ForwardedPreserve:
		return true
	case ForwardedAppend:
		return key != "X-Forwarded-For"
	}
	return false
}

// forwardedFor is the X-Forwarded-For the model gets when passes("X-Forwarded-For") is
// false: the connecting address, after the client's list under append. "" sends none.
func (f Forwarded) forwardedFor(client []string, remoteAddr string) string {
	peer, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		peer = ""
	}
	var list []string
	if f == ForwardedAppend {
		list = append(list, client...)
	}
	if peer != "" {
		list = append(list, peer)
	}
	return strings.Join(list, ", ")
}

// setForwarded writes the forwarding headers of in to out under f, for the ReverseProxy
// path (whose Rewrite removed the X-Forwarded-* and Forwarded headers from out already).
func (f Forwarded) setForwarded(out, in http.Header, remoteAddr string) {
	for _, k := range forwardingHeaders {
		delete(out, k)
		if v, ok := in[k]; ok && f.passes(k) {
			out[k] = v
		}
	}
	if !f.passes("X-Forwarded-For") {
		if xff := f.forwardedFor(in["X-Forwarded-For"], remoteAddr); xff != "" {
			out.Set("X-Forwarded-For", xff)
		}
	}
}
