//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// runSeldonOperator stands in, until the test ends, for Seldon Core v1's operator (v1.18.2:
// operator/controllers/seldondeployment_controller.go createComponents and createDeployments,
// labels.go, seldondeployment_engine.go addEngineToDeployment, and the defaulting of
// apis/machinelearning.seldon.io/v1/defaults.go) on the SeldonDeployments of namespace ns. As
// the operator it:
//   - adds a container named after a prepackaged-server graph root that no componentSpec has,
//     to componentSpecs[0] or a new componentSpec;
//   - makes a Deployment "<sdep>-<predictor>-<j>-<containers joined by ->" for every
//     componentSpec with containers, controller-owned by the SeldonDeployment, with the
//     operator's labels, selector (seldon-deployment-id and seldon-app) and template
//     annotations (spec.annotations, the prometheus ones);
//   - sets its replicas from componentSpecs[j].replicas, else predictors[i].replicas, else
//     spec.replicas, and leaves them alone when the componentSpec has an hpaSpec or kedaSpec;
//   - copies status.replicas of the Deployment of predictors[0].componentSpecs[0] into the
//     SeldonDeployment's status.replicas (what its /scale reads).
//
// Where it differs: every container runs the e2e model server (no images from outside the
// cluster), the executor ("seldon-container-engine", where traffic enters) serves 4 requests
// at once for 100 ms each; it walks only the graph's root unit; it does not hash names over
// 63 characters; it creates no Services, HPAs or status conditions; and it polls every 250 ms
// instead of watching.
func runSeldonOperator(t *testing.T, ns string) {
	t.Helper()
	c := newClient(t)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var mu sync.Mutex
	var lastErr string
	wg.Go(func() {
		_ = wait.PollUntilContextCancel(ctx, 250*time.Millisecond, true, func(ctx context.Context) (bool, error) {
			if err := reconcileSeldon(ctx, c, ns); err != nil && ctx.Err() == nil {
				mu.Lock()
				lastErr = err.Error()
				mu.Unlock()
			}
			return false, nil
		})
	})
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		if t.Failed() && lastErr != "" {
			t.Logf("Seldon operator fixture's last error: %s", lastErr)
		}
	})
}

// The fields of a SeldonDeployment the fixture reads.
type fixtureSeldonSpec struct {
	Replicas    *int32            `json:"replicas"`
	Annotations map[string]string `json:"annotations"`
	Predictors  []struct {
		Name     string `json:"name"`
		Replicas *int32 `json:"replicas"`
		Graph    struct {
			Name           string `json:"name"`
			Implementation string `json:"implementation"`
		} `json:"graph"`
		ComponentSpecs []fixtureComponentSpec `json:"componentSpecs"`
	} `json:"predictors"`
}

type fixtureComponentSpec struct {
	Spec struct {
		Containers []fixtureContainer `json:"containers"`
	} `json:"spec"`
	Replicas *int32         `json:"replicas"`
	HPASpec  map[string]any `json:"hpaSpec"`
	KEDASpec map[string]any `json:"kedaSpec"`
}

type fixtureContainer struct {
	Name string `json:"name"`
}

func reconcileSeldon(ctx context.Context, c client.Client, ns string) error {
	var list unstructured.UnstructuredList
	list.SetAPIVersion("machinelearning.seldon.io/v1")
	list.SetKind("SeldonDeploymentList")
	if err := c.List(ctx, &list, client.InNamespace(ns)); err != nil {
		return fmt.Errorf("list SeldonDeployments: %w", err)
	}
	for i := range list.Items {
		sdep := &list.Items[i]
		var spec fixtureSeldonSpec
		m, _ := sdep.Object["spec"].(map[string]any)
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(m, &spec); err != nil {
			return fmt.Errorf("SeldonDeployment %s: %w", sdep.GetName(), err)
		}
		var defaultDeployment string
		for pi, p := range spec.Predictors {
			// Defaulting: a prepackaged server (any implementation but Seldon's built-ins) gets
			// a container named after its unit.
			impl := p.Graph.Implementation
			prepack := impl != "" && impl != "UNKNOWN_IMPLEMENTATION" && impl != "SIMPLE_MODEL" && impl != "SIMPLE_ROUTER" && impl != "RANDOM_ABTEST" && impl != "AVERAGE_COMBINER"
			has := false
			for _, cs := range p.ComponentSpecs {
				for _, con := range cs.Spec.Containers {
					has = has || con.Name == p.Graph.Name
				}
			}
			if prepack && !has {
				if len(p.ComponentSpecs) == 0 {
					p.ComponentSpecs = []fixtureComponentSpec{{}}
				}
				p.ComponentSpecs[0].Spec.Containers = append(p.ComponentSpecs[0].Spec.Containers, fixtureContainer{Name: p.Graph.Name})
			}
			for j, cs := range p.ComponentSpecs {
				if len(cs.Spec.Containers) == 0 {
					continue
				}
				var names []string
				for _, con := range cs.Spec.Containers {
					names = append(names, con.Name)
				}
				name := sdep.GetName() + "-" + p.Name + "-" + strconv.Itoa(j) + "-" + strings.Join(names, "-")
				if pi == 0 && j == 0 {
					defaultDeployment = name
				}
				var replicas *int32
				switch {
				case cs.KEDASpec != nil || cs.HPASpec != nil:
				case cs.Replicas != nil:
					replicas = cs.Replicas
				case p.Replicas != nil:
					replicas = p.Replicas
				default:
					replicas = spec.Replicas
				}
				if err := applySeldonDeployment(ctx, c, sdep, &spec, p.Name, name, names, replicas); err != nil {
					return err
				}
			}
		}
		if err := copySeldonStatus(ctx, c, sdep, defaultDeployment); err != nil {
			return err
		}
	}
	return nil
}

// applySeldonDeployment creates the Deployment as the operator builds it, or updates its
// replicas.
func applySeldonDeployment(ctx context.Context, c client.Client, sdep *unstructured.Unstructured, spec *fixtureSeldonSpec, predictor, name string, containers []string, replicas *int32) error {
	var d appsv1.Deployment
	err := c.Get(ctx, client.ObjectKey{Namespace: sdep.GetNamespace(), Name: name}, &d)
	if err == nil {
		if replicas == nil || d.Spec.Replicas != nil && *d.Spec.Replicas == *replicas {
			return nil
		}
		d.Spec.Replicas = replicas
		return c.Update(ctx, &d)
	}
	if !apierrors.IsNotFound(err) {
		return err
	}
	id := sdep.GetName()
	predictorKey := id + "-" + predictor
	labels := map[string]string{
		"seldon-deployment-id": id, "app": name, "fluentd": "true", "version": predictor,
		"seldon.io/model": "true", "app.kubernetes.io/managed-by": "seldon-core", "seldon-app": predictorKey,
	}
	podLabels := map[string]string{}
	for k, v := range labels {
		podLabels[k] = v
	}
	annotations := map[string]string{"prometheus.io/path": "/prometheus", "prometheus.io/scrape": "true"}
	for k, v := range spec.Annotations {
		annotations[k] = v
	}
	tcp := func(name string, n int32) corev1.ContainerPort {
		return corev1.ContainerPort{Name: name, ContainerPort: n, Protocol: corev1.ProtocolTCP}
	}
	server := func(name string, args []string, ports ...corev1.ContainerPort) corev1.Container {
		return corev1.Container{
			Name: name, Image: modelServer.Ref, ImagePullPolicy: corev1.PullNever, Args: args, Ports: ports,
			ReadinessProbe: &corev1.Probe{
				ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromString("http")}},
				PeriodSeconds: 1,
			},
		}
	}
	var cons []corev1.Container
	for k, con := range containers {
		podLabels["seldon-app-svc-"+con] = predictorKey + "-" + con
		http, grpc := int32(9000+k), int32(9500+k)
		cons = append(cons, server(con, []string{fmt.Sprintf("-listen=:%d", http), "-service-time=5ms"}, tcp("http", http), tcp("grpc", grpc)))
	}
	cons = append(cons, server("seldon-container-engine", []string{"-listen=:8000", "-service-time=100ms", "-concurrency=4"}, tcp("http", 8000), tcp("grpc", 5001)))
	labels["seldon-deployment-contains-svcorch"] = "true"
	d = appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: sdep.GetNamespace(), Name: name, Labels: labels, Annotations: annotations,
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: sdep.GetAPIVersion(), Kind: sdep.GetKind(), Name: sdep.GetName(), UID: sdep.GetUID(),
				Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true),
			}},
		},
		Spec: appsv1.DeploymentSpec{
			Replicas: replicas,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"seldon-deployment-id": id, "seldon-app": predictorKey}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: podLabels, Annotations: annotations},
				Spec:       corev1.PodSpec{Containers: cons, TerminationGracePeriodSeconds: ptr.To[int64](20)},
			},
		},
	}
	return c.Create(ctx, &d)
}

// copySeldonStatus sets the SeldonDeployment's status.replicas to that of its default
// Deployment, as the operator does.
func copySeldonStatus(ctx context.Context, c client.Client, sdep *unstructured.Unstructured, deployment string) error {
	if deployment == "" {
		return nil
	}
	var d appsv1.Deployment
	if err := c.Get(ctx, client.ObjectKey{Namespace: sdep.GetNamespace(), Name: deployment}, &d); err != nil {
		return client.IgnoreNotFound(err)
	}
	cur, _, _ := unstructured.NestedInt64(sdep.Object, "status", "replicas")
	if cur == int64(d.Status.Replicas) {
		return nil
	}
	if err := unstructured.SetNestedField(sdep.Object, int64(d.Status.Replicas), "status", "replicas"); err != nil {
		return err
	}
	return c.Status().Update(ctx, sdep)
}

// operatorPods waits for the operator fixture to make Deployment name, then for want ready pods
// of it.
func operatorPods(t *testing.T, ns, name string, want int32) []corev1.Pod {
	t.Helper()
	err := wait.PollUntilContextTimeout(t.Context(), 250*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		_, err := testCluster.Client.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		return err == nil, nil
	})
	if err != nil {
		t.Fatalf("the operator fixture made no Deployment %s: %v\n%s", name, err, kubectl(t, "-n", ns, "get", "sdep,deploy", "-o", "yaml"))
	}
	return readyPods(t, ns, name, want)
}
