package certs

import (
	"flag"
	"io"
	"strings"
	"testing"
)

// The install namespace comes from the pod (downward API) unless --namespace names one, and a
// name the API server would refuse is refused at the flag.
func TestNamespaceFlag(t *testing.T) {
	parse := func(args ...string) (Options, error) {
		fs := flag.NewFlagSet("test", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		o := WebhookOptions()
		o.BindFlags(fs)
		return o, fs.Parse(args)
	}

	t.Setenv(NamespaceEnv, "")
	if o, err := parse(); err != nil || o.Namespace != Namespace {
		t.Errorf("no env, no flag: namespace %q (%v), want %q", o.Namespace, err, Namespace)
	}
	t.Setenv(NamespaceEnv, "platform-autoscaling")
	if o, err := parse(); err != nil || o.Namespace != "platform-autoscaling" {
		t.Errorf("from %s: namespace %q (%v), want platform-autoscaling", NamespaceEnv, o.Namespace, err)
	}
	if o, err := parse("--namespace=ops"); err != nil || o.Namespace != "ops" {
		t.Errorf("--namespace=ops: namespace %q (%v), want ops", o.Namespace, err)
	}
	if _, err := parse("--namespace=Ops_1"); err == nil || !strings.Contains(err.Error(), `"Ops_1" is no namespace name`) {
		t.Errorf("--namespace=Ops_1: %v, want the name refused", err)
	}
}
