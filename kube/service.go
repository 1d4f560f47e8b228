package kube

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/stack-dev/stack/spec"
)

// podBuild collects what a service's pod needs while its keys are read.
type podBuild struct {
	svc       string
	name      string // object name of the service
	base      path
	pod       corev1.PodSpec
	ctr       corev1.Container
	claims    []corev1.PersistentVolumeClaim // volumeClaimTemplates
	hashParts map[string][]byte
	ports     []servicePort
}

func (c *converter) service(name string, s *spec.Service) {
	base := at("services", name)
	objName := name
	if errs := validation.IsDNS1123Label(name); len(errs) > 0 {
		c.invalidf(base, "service name %q is no DNS label, so no Kubernetes Service can carry it and other services could not find it by name: %s; rename it (lowercase letters, digits and '-')", name, errs[0])
		return
	}
	var ext serviceExt
	if v, ok := s.Extensions[ExtensionKey]; ok {
		e, problems := decodeServiceExt(v, base.with(ExtensionKey))
		ext = e
		c.extProblems(problems)
	}
	b := &podBuild{svc: name, name: objName, base: base, hashParts: map[string][]byte{}}
	b.ctr.Name = objName
	c.unsupported(s, base)
	c.image(b, s)
	b.ctr.Command = s.Entrypoint
	b.ctr.Args = s.Command
	b.ctr.WorkingDir = s.WorkingDir
	b.ctr.TTY = s.Tty
	b.ctr.Stdin = s.StdinOpen
	c.environment(b, s)
	b.ports = c.ports(s, base)
	c.containerPorts(b)
	c.resources(b, s)
	c.securityContext(b, s)
	c.probes(b, s)
	c.mounts(b, s)
	c.waits(b, s)
	c.podOptions(b, s)
	b.pod.Containers = []corev1.Container{b.ctr}

	tmpl := corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: selectorLabels(c.p.Name, name), Annotations: annotations(s.Labels)},
		Spec:       b.pod,
	}
	if len(b.hashParts) > 0 {
		if tmpl.Annotations == nil {
			tmpl.Annotations = map[string]string{}
		}
		tmpl.Annotations[AnnotationConfigHash] = hashData(b.hashParts)
	}
	meta := c.meta(objName, name)
	meta.Annotations = annotations(s.Labels)
	c.deployLabels(&meta, s, base)
	replicas := int32(s.Replicas())
	sel := &metav1.LabelSelector{MatchLabels: selectorLabels(c.p.Name, name)}
	if len(b.claims) > 0 {
		c.add(&appsv1.StatefulSet{
			TypeMeta:   typeMeta("apps/v1", "StatefulSet"),
			ObjectMeta: meta,
			Spec: appsv1.StatefulSetSpec{
				Replicas:             &replicas,
				Selector:             sel,
				ServiceName:          objName,
				Template:             tmpl,
				VolumeClaimTemplates: b.claims,
				PodManagementPolicy:  appsv1.ParallelPodManagement,
			},
		}, base)
	} else {
		c.add(&appsv1.Deployment{
			TypeMeta:   typeMeta("apps/v1", "Deployment"),
			ObjectMeta: meta,
			Spec:       appsv1.DeploymentSpec{Replicas: &replicas, Selector: sel, Template: tmpl},
		}, base)
	}
	c.services(b, s, ext)
}

// selectorLabels select the pods of one service.
func selectorLabels(project, service string) map[string]string {
	return map[string]string{LabelProject: project, LabelService: service}
}

// annotations are a service's labels: Compose labels are free text
// (com.example.description: "Accounting webapp"), which Kubernetes labels
// cannot hold, so they go where any text may: annotations.
func annotations(labels map[string]string) map[string]string {
	if len(labels) == 0 {
		return nil
	}
	out := make(map[string]string, len(labels))
	for k, v := range labels {
		out[k] = v
	}
	return out
}

// deployLabels puts deploy.labels on the workload as labels where they are
// valid Kubernetes labels, and as annotations with a warning otherwise.
func (c *converter) deployLabels(meta *metav1.ObjectMeta, s *spec.Service, base path) {
	if s.Deploy == nil {
		return
	}
	for _, k := range sortedKeys(s.Deploy.Labels) {
		v := s.Deploy.Labels[k]
		if k == LabelManagedBy || k == LabelProject || k == LabelService {
			c.invalidf(base.with("deploy", "labels", k), "label %s is stack's own: remove it", k)
			continue
		}
		if len(validation.IsQualifiedName(k)) > 0 || len(validation.IsValidLabelValue(v)) > 0 {
			c.warnf(base.with("deploy", "labels", k), "%s=%q is no valid Kubernetes label: it becomes an annotation", k, v)
			if meta.Annotations == nil {
				meta.Annotations = map[string]string{}
			}
			meta.Annotations[k] = v
			continue
		}
		meta.Labels[k] = v
	}
}

// unsupported reports the keys no Kubernetes object can express.
func (c *converter) unsupported(s *spec.Service, base path) {
	errs := []struct {
		set bool
		key string
		msg string
	}{
		{len(s.VolumesFrom) > 0, "volumes_from", "pods cannot mount another pod's volumes: mount the same named volume in both services"},
		{strings.HasPrefix(s.NetworkMode, "service:") || strings.HasPrefix(s.NetworkMode, "container:"), "network_mode", "pods cannot share another pod's network namespace: run the two as containers of one service's pod"},
		{s.NetworkMode == "none", "network_mode", "a pod without a network cannot be expressed"},
	}
	for _, e := range errs {
		if e.set {
			c.errorf(base.with(e.key), "%s", e.msg)
		}
	}
	warns := []struct {
		set bool
		key string
		msg string
	}{
		{s.ContainerName != "", "container_name", "ignored: the controller names pods (<service>-<hash>); other services reach it by service name"},
		{s.Domainname != "", "domainname", "ignored: pods take the cluster's DNS domain"},
		{s.StopSignal != "", "stop_signal", "ignored: pods stop with SIGTERM"},
		{s.Init != nil && *s.Init, "init", "ignored: Kubernetes runs no init process in the container; use an image with one (tini)"},
		{len(s.Ulimits) > 0, "ulimits", "ignored: pods take the node's limits"},
		{s.CPUShares != 0, "cpu_shares", "ignored: use cpus or deploy.resources.reservations.cpus"},
		{s.CPUQuota != 0, "cpu_quota", "ignored: use cpus or deploy.resources.limits.cpus"},
		{s.CPUPeriod != 0, "cpu_period", "ignored: the kubelet sets the CFS period"},
		{s.CPUSet != "", "cpuset", "ignored: the kubelet's CPU manager places containers"},
		{s.MemswapLimit != 0, "memswap_limit", "ignored: the node's swap behaviour applies"},
		{s.PidsLimit != 0, "pids_limit", "ignored: the kubelet's --pod-max-pids applies"},
		{s.Deploy != nil && s.Deploy.Resources.Limits != nil && s.Deploy.Resources.Limits.Pids != 0, "deploy.resources.limits.pids", "ignored: the kubelet's --pod-max-pids applies"},
		{len(s.Links) > 0, "links", "kept only as dependencies: every service is reachable by its name; link aliases are not made"},
	}
	for _, w := range warns {
		if w.set {
			c.warnf(base.with(splitKey(w.key)...), "%s", w.msg)
		}
	}
	switch s.Restart {
	case "", "always", "unless-stopped":
	default:
		c.warnf(base.with("restart"), "restart %q: a Deployment's pods always restart", s.Restart)
	}
	if s.Deploy != nil && s.Deploy.RestartPolicy != nil {
		rp := s.Deploy.RestartPolicy
		rpath := base.with("deploy", "restart_policy")
		if rp.Condition != "" && rp.Condition != "any" {
			c.warnf(rpath.with("condition"), "%q: a Deployment's pods always restart", rp.Condition)
		}
		if rp.Delay != nil || rp.MaxAttempts != nil || rp.Window != nil {
			c.warnf(rpath, "delay, max_attempts and window are ignored: the kubelet restarts with its own back-off")
		}
	}
	for i, port := range s.Ports {
		if port.HostIP != "" && port.HostIP != "0.0.0.0" && port.HostIP != "::" {
			c.warnf(base.with("ports", i), "host_ip %s is ignored: a Service listens on the cluster's addresses", port.HostIP)
		}
	}
	for _, net := range sortedKeys(s.Networks) {
		if n := s.Networks[net]; n != nil && n.IPv4Address != "" {
			c.warnf(base.with("networks", net, "ipv4_address"), "ignored: the cluster assigns pod addresses")
		}
	}
	for dep, d := range s.DependsOn {
		if d.Condition == spec.ConditionCompletedSuccessfully {
			c.warnf(base.with("depends_on", dep), "service_completed_successfully is not kept: the pods start without waiting for %s to finish", dep)
		}
	}
}

func splitKey(key string) []any {
	var out []any
	for _, k := range strings.Split(key, ".") {
		out = append(out, k)
	}
	return out
}

// image sets the container image: the cluster pulls it, so a service that
// stack would build needs an image: naming where the build was pushed.
func (c *converter) image(b *podBuild, s *spec.Service) {
	b.ctr.Image = s.Image
	if s.Build != nil {
		if s.Image == "" {
			c.errorf(b.base.with("build"), "a cluster cannot build images: build and push the image, and name it with image:")
			return
		}
		c.warnf(b.base.with("build"), "ignored: the cluster pulls %s; build and push it first", s.Image)
	}
	switch s.PullPolicy {
	case "always":
		b.ctr.ImagePullPolicy = corev1.PullAlways
	case "never":
		b.ctr.ImagePullPolicy = corev1.PullNever
	case "missing", "if_not_present":
		b.ctr.ImagePullPolicy = corev1.PullIfNotPresent
	case "build":
		c.warnf(b.base.with("pull_policy"), "build: the cluster pulls the image when missing")
		b.ctr.ImagePullPolicy = corev1.PullIfNotPresent
	}
}

// secretName matches the names of variables whose values are secrets:
// they go into a Secret, not a ConfigMap.
var secretName = regexp.MustCompile(`(?i)(PASSWORD|PASSWD|SECRET|TOKEN|API_?KEY|PRIVATE_?KEY|CREDENTIAL)`)

// environment puts env_file and environment into a ConfigMap and, for
// variables whose names say they hold a secret, a Secret, which the
// container reads with envFrom. environment wins over env_file, as in
// Compose.
func (c *converter) environment(b *podBuild, s *spec.Service) {
	env := map[string]string{}
	for i, ef := range s.EnvFiles {
		data, err := os.ReadFile(ef.Path)
		if err != nil {
			if !ef.Required && os.IsNotExist(err) {
				continue
			}
			c.invalidf(b.base.with("env_file", i), "read %s: %v", ef.Path, unwrapPathError(err))
			continue
		}
		vals, err := spec.ParseDotEnv(bytes.NewReader(data), ef.Path, func(string) (string, bool) { return "", false })
		if err != nil {
			c.invalidf(b.base.with("env_file", i), "%v", err)
			continue
		}
		for k, v := range vals {
			env[k] = v
		}
	}
	for _, k := range sortedKeys(s.Environment) {
		v := s.Environment[k]
		if v == nil {
			c.warnf(b.base.with("environment", k), "has no value (none was set when the file was loaded): left out")
			delete(env, k)
			continue
		}
		env[k] = *v
	}
	plain, secret := map[string]string{}, map[string][]byte{}
	for k, v := range env {
		if secretName.MatchString(k) {
			secret[k] = []byte(v)
		} else {
			plain[k] = v
		}
	}
	name := b.name + "-env"
	if len(plain) > 0 {
		c.add(&corev1.ConfigMap{TypeMeta: typeMeta("v1", "ConfigMap"), ObjectMeta: c.meta(name, b.svc), Data: plain}, b.base.with("environment"))
		b.ctr.EnvFrom = append(b.ctr.EnvFrom, corev1.EnvFromSource{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: name}}})
		for k, v := range plain {
			b.hashParts["env/"+k] = []byte(v)
		}
	}
	if len(secret) > 0 {
		c.add(&corev1.Secret{TypeMeta: typeMeta("v1", "Secret"), ObjectMeta: c.meta(name, b.svc), Type: corev1.SecretTypeOpaque, Data: secret}, b.base.with("environment"))
		b.ctr.EnvFrom = append(b.ctr.EnvFrom, corev1.EnvFromSource{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: name}}})
		for k, v := range secret {
			b.hashParts["secret-env/"+k] = v
		}
	}
}

// servicePort is one port of the service's Service.
type servicePort struct {
	name      string
	port      int32 // the container port: other services use it, as in Compose
	published int32 // 0 when not published
	proto     corev1.Protocol
	appProto  string
}

// ports lists the service's ports and exposed ports, one per container
// port and protocol.
func (c *converter) ports(s *spec.Service, base path) []servicePort {
	var out []servicePort
	seen := map[string]int{}
	addPort := func(p spec.Port, published string, at path) {
		proto := corev1.Protocol(strings.ToUpper(firstNonEmpty(p.Protocol, "tcp")))
		key := fmt.Sprint(p.Target, proto)
		pub := int32(0)
		if published != "" {
			first, _, isRange := strings.Cut(published, "-")
			if n, err := strconv.Atoi(first); err == nil {
				pub = int32(n)
			}
			if isRange {
				c.warnf(at, "published range %s: the published Service listens on its first port, %d", published, pub)
			}
		}
		if i, dup := seen[key]; dup {
			if out[i].published == 0 {
				out[i].published = pub
			}
			return
		}
		name := p.Name
		if name == "" {
			name = strings.ToLower(string(proto)) + "-" + itoa(int32(p.Target))
		}
		seen[key] = len(out)
		out = append(out, servicePort{name: name, port: int32(p.Target), published: pub, proto: proto, appProto: p.AppProtocol})
	}
	for i, p := range s.Ports {
		addPort(p, p.Published, base.with("ports", i))
	}
	for i, e := range s.Expose {
		ps, err := spec.ParsePortSpec(e)
		if err != nil {
			c.invalidf(base.with("expose", i), "%v", err)
			continue
		}
		for _, p := range ps {
			addPort(p, "", base.with("expose", i))
		}
	}
	return out
}

func (c *converter) containerPorts(b *podBuild) {
	for _, p := range b.ports {
		b.ctr.Ports = append(b.ctr.Ports, corev1.ContainerPort{ContainerPort: p.port, Protocol: p.proto})
	}
}

// resources maps deploy.resources (and cpus, mem_limit, mem_reservation)
// to the container's limits and requests.
func (c *converter) resources(b *podBuild, s *spec.Service) {
	limits, requests := corev1.ResourceList{}, corev1.ResourceList{}
	cpuLimit, memLimit := s.CPUs, int64(s.MemLimit)
	var cpuReq float64
	memReq := int64(s.MemReservation)
	if s.Deploy != nil {
		if l := s.Deploy.Resources.Limits; l != nil {
			cpuLimit = firstPositive(l.CPUs, cpuLimit)
			memLimit = int64(firstPositive(float64(l.Memory), float64(memLimit)))
		}
		if r := s.Deploy.Resources.Reservations; r != nil {
			cpuReq = r.CPUs
			memReq = int64(firstPositive(float64(r.Memory), float64(memReq)))
		}
	}
	setCPU := func(l corev1.ResourceList, cpus float64) {
		if cpus > 0 {
			l[corev1.ResourceCPU] = *resource.NewMilliQuantity(int64(math.Ceil(cpus*1000)), resource.DecimalSI)
		}
	}
	setMem := func(l corev1.ResourceList, bytes int64) {
		if bytes > 0 {
			l[corev1.ResourceMemory] = *resource.NewQuantity(bytes, resource.BinarySI)
		}
	}
	setCPU(limits, cpuLimit)
	setMem(limits, memLimit)
	setCPU(requests, cpuReq)
	setMem(requests, memReq)
	if len(limits) > 0 {
		b.ctr.Resources.Limits = limits
	}
	if len(requests) > 0 {
		b.ctr.Resources.Requests = requests
	}
}

func firstPositive(a, b float64) float64 {
	if a > 0 {
		return a
	}
	return b
}

// securityContext maps user, cap_add, cap_drop, read_only and privileged.
func (c *converter) securityContext(b *podBuild, s *spec.Service) {
	sc := &corev1.SecurityContext{}
	set := false
	if s.User != "" {
		u, g, hasGroup := strings.Cut(s.User, ":")
		uid, err := strconv.ParseInt(u, 10, 64)
		if err != nil {
			c.errorf(b.base.with("user"), "user %q: Kubernetes runs containers as a numeric user id (runAsUser): write the uid (and :gid)", s.User)
		} else {
			sc.RunAsUser = &uid
			set = true
		}
		if hasGroup {
			gid, err := strconv.ParseInt(g, 10, 64)
			if err != nil {
				c.errorf(b.base.with("user"), "group %q: Kubernetes needs a numeric group id (runAsGroup)", g)
			} else {
				sc.RunAsGroup = &gid
			}
		}
	}
	caps := func(list []string) []corev1.Capability {
		var out []corev1.Capability
		for _, cp := range list {
			out = append(out, corev1.Capability(strings.TrimPrefix(strings.ToUpper(cp), "CAP_")))
		}
		return out
	}
	if len(s.CapAdd) > 0 || len(s.CapDrop) > 0 {
		sc.Capabilities = &corev1.Capabilities{Add: caps(s.CapAdd), Drop: caps(s.CapDrop)}
		set = true
	}
	if s.ReadOnly {
		sc.ReadOnlyRootFilesystem = ptr(true)
		set = true
	}
	if s.Privileged {
		sc.Privileged = ptr(true)
		set = true
	}
	if set {
		b.ctr.SecurityContext = sc
	}
}

// probes maps the healthcheck: the test becomes an exec readiness probe
// (Compose's health decides readiness for depends_on and never restarts a
// container, so there is no liveness probe), interval, timeout and retries
// its period, timeout and failure threshold; start_period becomes a
// startup probe that allows start_period/period failures before the
// readiness probe's retries count, as Compose ignores failures during
// start_period.
func (c *converter) probes(b *podBuild, s *spec.Service) {
	hc := s.Healthcheck
	if hc == nil || hc.Disable || len(hc.Test) == 0 || hc.Test[0] == "NONE" {
		return
	}
	var cmd []string
	switch hc.Test[0] {
	case "CMD":
		cmd = hc.Test[1:]
	case "CMD-SHELL":
		cmd = []string{"/bin/sh", "-c", strings.Join(hc.Test[1:], " ")}
	default:
		c.invalidf(b.base.with("healthcheck", "test"), "test %v: want CMD or CMD-SHELL", hc.Test)
		return
	}
	period := seconds(hc.Interval, 30*time.Second)
	probe := &corev1.Probe{
		ProbeHandler:     corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: cmd}},
		PeriodSeconds:    period,
		TimeoutSeconds:   seconds(hc.Timeout, 30*time.Second),
		FailureThreshold: 3,
	}
	if hc.Retries != nil && *hc.Retries > 0 {
		probe.FailureThreshold = int32(min(*hc.Retries, math.MaxInt32))
	}
	b.ctr.ReadinessProbe = probe
	if hc.StartPeriod != nil && *hc.StartPeriod > 0 {
		start := *probe
		start.PeriodSeconds = seconds(hc.StartInterval, time.Duration(period)*time.Second)
		start.FailureThreshold = int32(math.Ceil(time.Duration(*hc.StartPeriod).Seconds()/float64(start.PeriodSeconds))) + probe.FailureThreshold
		b.ctr.StartupProbe = &start
	}
}

// seconds is d in whole seconds, rounded up, at least 1; def when d is
// unset.
func seconds(d *spec.Duration, def time.Duration) int32 {
	v := def
	if d != nil && *d > 0 {
		v = time.Duration(*d)
	}
	return int32(max(1, math.Ceil(v.Seconds())))
}
