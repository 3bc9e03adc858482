package cluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"

	"golang.org/x/net/dns/dnsmessage"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// clusterDomain is the kubelet's clusterDomain.
const clusterDomain = "cluster.local."

// serviceDNS answers the A records of Services, <svc>.<ns>.svc.cluster.local,
// from an informer: the part of a cluster DNS that in-cluster clients need
// (inferscale's agents find the scaler by its Service name). Every other name
// gets NXDOMAIN: the machine has no upstream to forward to.
type serviceDNS struct {
	conn     net.PacketConn
	services cache.Indexer
	stop     context.CancelFunc
	done     sync.WaitGroup
}

// startServiceDNS listens on addr (UDP, port 53) and serves until close.
func startServiceDNS(ctx context.Context, cs kubernetes.Interface, addr string) (*serviceDNS, error) {
	conn, err := net.ListenPacket("udp4", net.JoinHostPort(addr, "53"))
	if err != nil {
		return nil, fmt.Errorf("cluster DNS: listen on %s:53: %w", addr, err)
	}
	ctx, cancel := context.WithCancel(ctx)
	factory := informers.NewSharedInformerFactory(cs, 0)
	inf := factory.Core().V1().Services().Informer()
	factory.Start(ctx.Done())
	d := &serviceDNS{conn: conn, services: inf.GetIndexer(), stop: cancel}
	if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
		d.close()
		return nil, errors.New("cluster DNS: services informer did not sync")
	}
	d.done.Add(1)
	go d.serve()
	return d, nil
}

func (d *serviceDNS) close() {
	d.stop()
	d.conn.Close()
	d.done.Wait()
}

func (d *serviceDNS) serve() {
	defer d.done.Done()
	buf := make([]byte, 1500)
	for {
		n, from, err := d.conn.ReadFrom(buf)
		if err != nil {
			return // closed
		}
		if resp, ok := d.answer(buf[:n]); ok {
			_, _ = d.conn.WriteTo(resp, from)
		}
	}
}

// answer builds the response to one query; false drops a packet that is no query.
func (d *serviceDNS) answer(query []byte) ([]byte, bool) {
	var p dnsmessage.Parser
	hdr, err := p.Start(query)
	if err != nil || hdr.Response {
		return nil, false
	}
	q, err := p.Question()
	if err != nil {
		return nil, false
	}
	resp := dnsmessage.Header{ID: hdr.ID, Response: true, Authoritative: true, RecursionDesired: hdr.RecursionDesired, RCode: dnsmessage.RCodeNameError}
	ip, known := d.lookup(q.Name.String())
	if known {
		resp.RCode = dnsmessage.RCodeSuccess
	}
	b := dnsmessage.NewBuilder(nil, resp)
	b.EnableCompression()
	if b.StartQuestions() != nil || b.Question(q) != nil {
		return nil, false
	}
	// A known name has no AAAA: NOERROR with no answer, so resolvers do not give up on it.
	if known && ip.IsValid() && q.Type == dnsmessage.TypeA {
		if b.StartAnswers() != nil {
			return nil, false
		}
		rh := dnsmessage.ResourceHeader{Name: q.Name, Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET, TTL: 5}
		if b.AResource(rh, dnsmessage.AResource{A: ip.As4()}) != nil {
			return nil, false
		}
	}
	out, err := b.Finish()
	return out, err == nil
}

// lookup resolves <svc>.<ns>.svc.cluster.local. to the Service's ClusterIP.
// The bool says whether the name exists; a headless Service exists with no address.
func (d *serviceDNS) lookup(name string) (netip.Addr, bool) {
	name = strings.ToLower(name)
	rest, ok := strings.CutSuffix(name, ".svc."+clusterDomain)
	if !ok {
		return netip.Addr{}, false
	}
	svc, ns, ok := strings.Cut(rest, ".")
	if !ok || strings.Contains(ns, ".") {
		return netip.Addr{}, false
	}
	obj, exists, err := d.services.GetByKey(ns + "/" + svc)
	if err != nil || !exists {
		return netip.Addr{}, false
	}
	ip, err := netip.ParseAddr(obj.(*corev1.Service).Spec.ClusterIP)
	if err != nil || !ip.Is4() {
		return netip.Addr{}, true
	}
	return ip, true
}
