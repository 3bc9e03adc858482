// Command metricsadapter is the e2e tests' external metrics adapter: an aggregated API server
// for external.metrics.k8s.io/v1beta1 that serves, for a namespace, the series written in that
// namespace's ConfigMap "external-metrics" (data key: the metric's name; value: a quantity, one
// series without labels, or a JSON list of {"labels": {...}, "value": "..."}).
//
// Like a real adapter it serves TLS, accepts only the kube-apiserver's front-proxy client
// certificate (the requestheader CA and allowed names of kube-system's
// extension-apiserver-authentication ConfigMap), takes the user from the X-Remote-User and
// X-Remote-Group headers and asks a SubjectAccessReview whether that user may list the metric.
// It differs from one built on k8s.io/apiserver in what the tests do not need: discovery is
// served to any front-proxied request without a review, there is no OpenAPI and no watch, and
// the request headers' extra attributes are ignored.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"net/http"
	"slices"
	"strings"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	emv1beta1 "k8s.io/metrics/pkg/apis/external_metrics/v1beta1"
)

const (
	group        = "external.metrics.k8s.io"
	version      = "v1beta1"
	configMap    = "external-metrics"
	maxSeries    = 100
	apiPrefix    = "/apis/" + group + "/" + version
	requestLimit = 10 * time.Second
)

func main() {
	listen := flag.String("listen", ":6443", "HTTPS address")
	certDir := flag.String("cert-dir", "/tls", "directory with tls.crt and tls.key")
	flag.Parse()
	if err := run(*listen, *certDir); err != nil {
		log.Fatal(err)
	}
}

func run(listen, certDir string) error {
	cfg, err := rest.InClusterConfig()
	if err != nil {
		return err
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	ctx := context.Background()
	auth, err := cs.CoreV1().ConfigMaps("kube-system").Get(ctx, "extension-apiserver-authentication", metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("read the front proxy's CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM([]byte(auth.Data["requestheader-client-ca-file"])) {
		return errors.New("extension-apiserver-authentication has no requestheader-client-ca-file")
	}
	var allowed []string
	if s := auth.Data["requestheader-allowed-names"]; s != "" {
		if err := json.Unmarshal([]byte(s), &allowed); err != nil {
			return fmt.Errorf("requestheader-allowed-names: %w", err)
		}
	}
	cert, err := tls.LoadX509KeyPair(certDir+"/tls.crt", certDir+"/tls.key")
	if err != nil {
		return err
	}
	a := &adapter{cs: cs, allowed: allowed}
	srv := &http.Server{
		Addr:              listen,
		Handler:           a,
		ReadHeaderTimeout: 5 * time.Second,
		TLSConfig: &tls.Config{
			Certificates: []tls.Certificate{cert},
			ClientCAs:    pool,
			ClientAuth:   tls.VerifyClientCertIfGiven,
			MinVersion:   tls.VersionTLS12,
		},
	}
	log.Printf("serving %s/%s on %s", group, version, listen)
	return srv.ListenAndServeTLS("", "")
}

type adapter struct {
	cs      kubernetes.Interface
	allowed []string
}

func (a *adapter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/healthz", "/readyz", "/livez":
		_, _ = w.Write([]byte("ok"))
		return
	}
	user, groups, ok := a.frontProxied(r)
	if !ok {
		writeStatus(w, apierrors.NewUnauthorized("only the kube-apiserver's front proxy may call this server"))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), requestLimit)
	defer cancel()
	switch path := strings.TrimSuffix(r.URL.Path, "/"); {
	case path == "/apis":
		writeJSON(w, &metav1.APIGroupList{TypeMeta: metav1.TypeMeta{Kind: "APIGroupList", APIVersion: "v1"}, Groups: []metav1.APIGroup{apiGroup()}})
	case path == "/apis/"+group:
		g := apiGroup()
		g.TypeMeta = metav1.TypeMeta{Kind: "APIGroup", APIVersion: "v1"}
		writeJSON(w, &g)
	case path == apiPrefix:
		writeJSON(w, &metav1.APIResourceList{
			TypeMeta:     metav1.TypeMeta{Kind: "APIResourceList", APIVersion: "v1"},
			GroupVersion: group + "/" + version,
			// Metric names are not known ahead; a wildcard resource, as real adapters list.
			APIResources: []metav1.APIResource{{Name: "*", Namespaced: true, Kind: "ExternalMetricValueList", Verbs: []string{"get"}}},
		})
	case strings.HasPrefix(path, apiPrefix+"/namespaces/"):
		parts := strings.Split(strings.TrimPrefix(path, apiPrefix+"/namespaces/"), "/")
		if len(parts) != 2 || parts[0] == "" || parts[1] == "" || r.Method != http.MethodGet {
			writeStatus(w, apierrors.NewNotFound(emv1beta1.Resource("externalmetrics"), path))
			return
		}
		a.serveMetric(ctx, w, r, user, groups, parts[0], parts[1])
	default:
		writeStatus(w, apierrors.NewNotFound(emv1beta1.Resource("externalmetrics"), path))
	}
}

// frontProxied returns the user the kube-apiserver vouches for; ok is false unless the client
// certificate is the front proxy's.
func (a *adapter) frontProxied(r *http.Request) (user string, groups []string, ok bool) {
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 {
		return "", nil, false
	}
	if cn := r.TLS.VerifiedChains[0][0].Subject.CommonName; len(a.allowed) > 0 && !slices.Contains(a.allowed, cn) {
		return "", nil, false
	}
	return r.Header.Get("X-Remote-User"), r.Header.Values("X-Remote-Group"), true
}

func (a *adapter) serveMetric(ctx context.Context, w http.ResponseWriter, r *http.Request, user string, groups []string, namespace, metric string) {
	review, err := a.cs.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User: user, Groups: groups,
		ResourceAttributes: &authorizationv1.ResourceAttributes{Namespace: namespace, Verb: "list", Group: group, Version: version, Resource: metric},
	}}, metav1.CreateOptions{})
	if err != nil {
		writeStatus(w, apierrors.NewInternalError(fmt.Errorf("authorize: %w", err)))
		return
	}
	if !review.Status.Allowed {
		writeStatus(w, apierrors.NewForbidden(emv1beta1.Resource(metric), "", fmt.Errorf("user %q cannot list %s in namespace %q", user, metric, namespace)))
		return
	}
	sel, err := labels.Parse(r.URL.Query().Get("labelSelector"))
	if err != nil {
		writeStatus(w, apierrors.NewBadRequest(err.Error()))
		return
	}
	cm, err := a.cs.CoreV1().ConfigMaps(namespace).Get(ctx, configMap, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		writeStatus(w, apierrors.NewNotFound(emv1beta1.Resource(metric), ""))
		return
	} else if err != nil {
		writeStatus(w, apierrors.NewInternalError(err))
		return
	}
	raw, ok := cm.Data[metric]
	if !ok {
		writeStatus(w, apierrors.NewNotFound(emv1beta1.Resource(metric), ""))
		return
	}
	series, err := parseSeries(raw)
	if err != nil {
		writeStatus(w, apierrors.NewInternalError(fmt.Errorf("ConfigMap %s/%s key %s: %w", namespace, configMap, metric, err)))
		return
	}
	out := &emv1beta1.ExternalMetricValueList{TypeMeta: metav1.TypeMeta{Kind: "ExternalMetricValueList", APIVersion: group + "/" + version}}
	now := metav1.Now()
	for _, s := range series {
		if sel.Matches(labels.Set(s.Labels)) {
			out.Items = append(out.Items, emv1beta1.ExternalMetricValue{MetricName: metric, MetricLabels: s.Labels, Timestamp: now, Value: s.Value})
		}
	}
	writeJSON(w, out)
}

type series struct {
	Labels map[string]string `json:"labels,omitempty"`
	Value  resource.Quantity `json:"value"`
}

func parseSeries(raw string) ([]series, error) {
	raw = strings.TrimSpace(raw)
	if q, err := resource.ParseQuantity(raw); err == nil {
		return []series{{Value: q}}, nil
	}
	var out []series
	if err := json.Unmarshal([]byte(raw), &out); err != nil {
		return nil, fmt.Errorf("want a quantity or a JSON list of {labels, value}: %w", err)
	}
	if len(out) > maxSeries {
		return nil, fmt.Errorf("%d series, at most %d", len(out), maxSeries)
	}
	return out, nil
}

func apiGroup() metav1.APIGroup {
	gv := metav1.GroupVersionForDiscovery{GroupVersion: group + "/" + version, Version: version}
	return metav1.APIGroup{Name: group, Versions: []metav1.GroupVersionForDiscovery{gv}, PreferredVersion: gv}
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	if err := json.NewEncoder(w).Encode(v); err != nil {
		log.Printf("write answer: %v", err)
	}
}

func writeStatus(w http.ResponseWriter, err *apierrors.StatusError) {
	st := err.ErrStatus
	st.TypeMeta = metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(int(st.Code))
	if err := json.NewEncoder(w).Encode(&st); err != nil {
		log.Printf("write answer: %v", err)
	}
}
