package cluster

import (
	"net/netip"
	"testing"

	"golang.org/x/net/dns/dnsmessage"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
)

func TestServiceDNSAnswers(t *testing.T) {
	idx := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{})
	for _, svc := range []*corev1.Service{
		{ObjectMeta: metav1.ObjectMeta{Namespace: "inferscale-system", Name: "inferscale-scaler"}, Spec: corev1.ServiceSpec{ClusterIP: "10.96.12.34"}},
		{ObjectMeta: metav1.ObjectMeta{Namespace: "ai", Name: "headless"}, Spec: corev1.ServiceSpec{ClusterIP: "None"}},
	} {
		if err := idx.Add(svc); err != nil {
			t.Fatal(err)
		}
	}
	d := &serviceDNS{services: idx}
	cases := []struct {
		name   string
		typ    dnsmessage.Type
		rcode  dnsmessage.RCode
		answer string
	}{
		{"inferscale-scaler.inferscale-system.svc.cluster.local.", dnsmessage.TypeA, dnsmessage.RCodeSuccess, "10.96.12.34"},
		{"Inferscale-Scaler.inferscale-system.svc.cluster.local.", dnsmessage.TypeA, dnsmessage.RCodeSuccess, "10.96.12.34"},
		{"inferscale-scaler.inferscale-system.svc.cluster.local.", dnsmessage.TypeAAAA, dnsmessage.RCodeSuccess, ""},
		{"headless.ai.svc.cluster.local.", dnsmessage.TypeA, dnsmessage.RCodeSuccess, ""},
		// The search path tries <name>.<own namespace>.svc.cluster.local first.
		{"inferscale-scaler.inferscale-system.svc.ai.svc.cluster.local.", dnsmessage.TypeA, dnsmessage.RCodeNameError, ""},
		{"missing.ai.svc.cluster.local.", dnsmessage.TypeA, dnsmessage.RCodeNameError, ""},
		{"example.com.", dnsmessage.TypeA, dnsmessage.RCodeNameError, ""},
	}
	for _, tc := range cases {
		b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: 7, RecursionDesired: true})
		_ = b.StartQuestions()
		_ = b.Question(dnsmessage.Question{Name: dnsmessage.MustNewName(tc.name), Type: tc.typ, Class: dnsmessage.ClassINET})
		q, err := b.Finish()
		if err != nil {
			t.Fatal(err)
		}
		out, ok := d.answer(q)
		if !ok {
			t.Fatalf("%s: no answer", tc.name)
		}
		var m dnsmessage.Message
		if err := m.Unpack(out); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if m.ID != 7 || !m.Response || m.RCode != tc.rcode {
			t.Fatalf("%s %s: header %+v, want rcode %s", tc.name, tc.typ, m.Header, tc.rcode)
		}
		got := ""
		if len(m.Answers) == 1 {
			a := m.Answers[0].Body.(*dnsmessage.AResource).A
			got = netipFrom(a)
		}
		if got != tc.answer || len(m.Answers) > 1 {
			t.Errorf("%s %s: answers %v, want %q", tc.name, tc.typ, m.Answers, tc.answer)
		}
	}
	if _, ok := d.answer([]byte{1, 2, 3}); ok {
		t.Error("answered garbage")
	}
}

func netipFrom(a [4]byte) string {
	return netipAddr(a).String()
}

func netipAddr(a [4]byte) interface{ String() string } { return netip.AddrFrom4(a) }
