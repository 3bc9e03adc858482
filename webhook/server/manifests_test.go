package server

import (
	"os"
	"strings"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/yaml"

	"github.com/inferscale/inferscale/certs"
)

func readDocs(t *testing.T, path string) []string {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(string(raw), "\n---\n")
}

// The configurations call the paths the binary serves, under the names the
// certs package patches, with the failure policies webhook/README.md documents.
func TestWebhookConfigurationsMatchTheServer(t *testing.T) {
	docs := readDocs(t, "../../manifests/webhook/webhooks.yaml")
	if len(docs) != 2 {
		t.Fatalf("%d documents, want the mutating and the validating configuration", len(docs))
	}
	var m admissionregistrationv1.MutatingWebhookConfiguration
	if err := yaml.UnmarshalStrict([]byte(docs[0]), &m); err != nil {
		t.Fatal(err)
	}
	var v admissionregistrationv1.ValidatingWebhookConfiguration
	if err := yaml.UnmarshalStrict([]byte(docs[1]), &v); err != nil {
		t.Fatal(err)
	}
	if m.Name != certs.MutatingWebhook || v.Name != certs.ValidatingHook {
		t.Errorf("names %s, %s; want %s, %s", m.Name, v.Name, certs.MutatingWebhook, certs.ValidatingHook)
	}
	mw, vw := m.Webhooks[0], v.Webhooks[0]
	for _, c := range []struct {
		what string
		svc  *admissionregistrationv1.ServiceReference
		path string
	}{{"injector", mw.ClientConfig.Service, InjectPath}, {"validator", vw.ClientConfig.Service, ValidatePath}} {
		if c.svc == nil || c.svc.Name != certs.WebhookService || c.svc.Namespace != certs.Namespace || *c.svc.Path != c.path {
			t.Errorf("%s calls %+v, want %s/%s%s", c.what, c.svc, certs.Namespace, certs.WebhookService, c.path)
		}
	}
	if *mw.FailurePolicy != admissionregistrationv1.Ignore || *mw.ReinvocationPolicy != admissionregistrationv1.IfNeededReinvocationPolicy ||
		mw.ObjectSelector != nil || mw.Rules[0].Resources[0] != "pods" {
		t.Errorf("injector %+v: want pods, failurePolicy Ignore, reinvocation IfNeeded, no objectSelector", mw)
	}
	if *vw.FailurePolicy != admissionregistrationv1.Fail || vw.Rules[0].Resources[0] != "autoscalingpolicies" {
		t.Errorf("validator %+v: want autoscalingpolicies with failurePolicy Fail", vw)
	}
	if len(v.Webhooks) != 2 {
		t.Fatalf("%d validating webhooks, want the policy's and the budget's", len(v.Webhooks))
	}
	bw := v.Webhooks[1]
	if svc := bw.ClientConfig.Service; svc == nil || svc.Name != certs.WebhookService || *svc.Path != ValidateBudgetPath ||
		*bw.FailurePolicy != admissionregistrationv1.Fail || bw.Rules[0].Resources[0] != "autoscalingbudgets" || *bw.Rules[0].Scope != admissionregistrationv1.ClusterScope {
		t.Errorf("budget validator %+v: want autoscalingbudgets (cluster scope) at %s with failurePolicy Fail", bw, ValidateBudgetPath)
	}
}

// The RBAC names the resources the certs package writes, and the Deployment
// mounts the cert dir the binary writes to.
func TestDeploymentAndRBAC(t *testing.T) {
	var roleOK bool
	for _, doc := range readDocs(t, "../../manifests/webhook/rbac.yaml") {
		var r rbacv1.Role
		if err := yaml.Unmarshal([]byte(doc), &r); err != nil {
			t.Fatal(err)
		}
		if r.Kind != "Role" {
			continue
		}
		for _, rule := range r.Rules {
			if strings.Join(rule.ResourceNames, ",") == certs.WebhookCASecret+","+certs.WebhookSecret {
				roleOK = true
			}
		}
	}
	if !roleOK {
		t.Errorf("no Role rule on secrets %s and %s", certs.WebhookCASecret, certs.WebhookSecret)
	}
	var d appsv1.Deployment
	if err := yaml.UnmarshalStrict([]byte(readDocs(t, "../../manifests/webhook/deployment.yaml")[0]), &d); err != nil {
		t.Fatal(err)
	}
	c := d.Spec.Template.Spec.Containers[0]
	if len(c.VolumeMounts) != 1 || c.VolumeMounts[0].Name != "tls" || c.VolumeMounts[0].MountPath != certs.DefaultCertDir {
		t.Errorf("mounts %+v, want volume tls at %s", c.VolumeMounts, certs.DefaultCertDir)
	}
	if len(c.Args) == 0 || c.Image != "inferscale/inferscale-webhook:v0.1.0" || d.Spec.Template.Spec.ServiceAccountName != "inferscale-webhook" {
		t.Errorf("container %+v", c)
	}
}
