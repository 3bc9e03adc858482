//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
)

// newNamespace creates a namespace for one test and deletes it when the test ends.
func newNamespace(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	ns, err := testCluster.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "e2e-"},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	t.Cleanup(func() {
		if err := testCluster.Client.CoreV1().Namespaces().Delete(context.Background(), ns.Name, metav1.DeleteOptions{}); err != nil {
			t.Errorf("delete namespace %s: %v", ns.Name, err)
		}
	})
	// Pods cannot be created before the namespace's default ServiceAccount exists.
	err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		_, err := testCluster.Client.CoreV1().ServiceAccounts(ns.Name).Get(ctx, "default", metav1.GetOptions{})
		return err == nil, nil
	})
	if err != nil {
		t.Fatalf("wait for default service account in %s: %v", ns.Name, err)
	}
	return ns.Name
}

// kubectl runs the pinned kubectl and fails the test if it fails.
func kubectl(t *testing.T, args ...string) string {
	t.Helper()
	out, err := testCluster.Kubectl(context.Background(), args...)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	return string(out)
}

// repoPath returns the path of a file of the repository, relative to its root.
func repoPath(t *testing.T, rel string) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("cannot locate the e2e package source")
	}
	return filepath.Join(filepath.Dir(file), "..", rel)
}

// runClientPod runs the model server image in client mode against urls from inside the cluster
// and returns what it printed; the test fails unless every URL answered 200.
func runClientPod(t *testing.T, namespace string, urls ...string) string {
	t.Helper()
	return runPod(t, namespace, modelServer.Ref, append([]string{"-get", "-retry-for=30s"}, urls...)...)
}

// runPod runs image with args in a pod until it exits and returns its output; the test fails
// unless it exits 0.
func runPod(t *testing.T, namespace, image string, args ...string) string {
	t.Helper()
	ctx := context.Background()
	pods := testCluster.Client.CoreV1().Pods(namespace)
	pod, err := pods.Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "run-"},
		Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyNever,
			Containers: []corev1.Container{{
				Name:            "main",
				Image:           image,
				ImagePullPolicy: corev1.PullNever,
				Args:            args,
			}},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create pod of %s: %v", image, err)
	}
	var phase corev1.PodPhase
	err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 60*time.Second, true, func(ctx context.Context) (bool, error) {
		p, err := pods.Get(ctx, pod.Name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		phase = p.Status.Phase
		return phase == corev1.PodSucceeded || phase == corev1.PodFailed, nil
	})
	logs, logErr := pods.GetLogs(pod.Name, &corev1.PodLogOptions{}).DoRaw(ctx)
	if err != nil || phase != corev1.PodSucceeded {
		t.Fatalf("pod %s of %s: phase %q, wait: %v\nlogs (%v):\n%s", pod.Name, image, phase, err, logErr, logs)
	}
	if logErr != nil {
		t.Fatalf("pod %s logs: %v", pod.Name, logErr)
	}
	return string(logs)
}

func clusterURL(ip string, port int32, path string) string {
	return fmt.Sprintf("http://%s:%d%s", ip, port, path)
}
