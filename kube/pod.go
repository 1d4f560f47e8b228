package kube

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/stack-dev/stack/spec"
)

// mounts maps volumes, tmpfs, shm_size, secrets and configs to the pod's
// volumes and the container's mounts.
func (c *converter) mounts(b *podBuild, s *spec.Service) {
	claimed := map[string]bool{}
	for i, v := range s.Volumes {
		p := b.base.with("volumes", i)
		m := corev1.VolumeMount{MountPath: v.Target, ReadOnly: v.ReadOnly}
		if v.Volume != nil {
			m.SubPath = v.Volume.Subpath
		}
		switch {
		case v.Type == spec.VolumeTypeVolume && v.Source != "" && c.claimOwner[v.Source] == b.svc:
			m.Name = sanitize(v.Source)
			if !claimed[v.Source] {
				claimed[v.Source] = true
				b.claims = append(b.claims, corev1.PersistentVolumeClaim{
					ObjectMeta: metav1.ObjectMeta{Name: m.Name, Labels: c.labels(b.svc)},
					Spec:       c.claimSpec(v.Source),
				})
			}
		case v.Type == spec.VolumeTypeVolume && v.Source != "":
			m.Name = sanitize(v.Source)
			if !claimed[v.Source] {
				claimed[v.Source] = true
				b.addVolume(m.Name, corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: c.claimName(v.Source)}})
			}
		case v.Type == spec.VolumeTypeVolume:
			m.Name = fmt.Sprintf("anon-%d", i)
			b.addVolume(m.Name, corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}})
		case v.Type == spec.VolumeTypeTmpfs:
			m.Name = fmt.Sprintf("tmpfs-%d", i)
			var size spec.ByteSize
			if v.Tmpfs != nil {
				size = v.Tmpfs.Size
			}
			b.addVolume(m.Name, memoryDir(int64(size)))
		case v.Type == spec.VolumeTypeBind:
			cm, ok := c.bindConfigMap(b.svc, b.name, i, v, p)
			if !ok {
				continue
			}
			c.add(cm, p)
			for k, d := range cm.Data {
				b.hashParts[cm.Name+"/"+k] = []byte(d)
			}
			for k, d := range cm.BinaryData {
				b.hashParts[cm.Name+"/"+k] = d
			}
			m.Name = fmt.Sprintf("files-%d", i)
			m.ReadOnly = false // a ConfigMap volume is read-only already
			if fi, err := os.Stat(v.Source); err == nil && !fi.IsDir() {
				m.SubPath = filepath.Base(v.Source)
			}
			b.addVolume(m.Name, corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: cm.Name}}})
		default:
			c.errorf(p, "volume type %q cannot be expressed", v.Type)
			continue
		}
		b.ctr.VolumeMounts = append(b.ctr.VolumeMounts, m)
	}
	for i, t := range s.Tmpfs {
		target, opts, _ := strings.Cut(t, ":")
		var size int64
		for _, o := range strings.Split(opts, ",") {
			if v, ok := strings.CutPrefix(o, "size="); ok {
				if n, err := spec.ParseByteSize(v); err == nil {
					size = int64(n)
				}
			}
		}
		name := fmt.Sprintf("tmpfs-list-%d", i)
		b.addVolume(name, memoryDir(size))
		b.ctr.VolumeMounts = append(b.ctr.VolumeMounts, corev1.VolumeMount{Name: name, MountPath: target})
	}
	if s.ShmSize > 0 {
		b.addVolume("shm", memoryDir(int64(s.ShmSize)))
		b.ctr.VolumeMounts = append(b.ctr.VolumeMounts, corev1.VolumeMount{Name: "shm", MountPath: "/dev/shm"})
	}
	c.fileMounts(b, "secrets", s.Secrets, "/run/secrets/")
	c.fileMounts(b, "configs", s.Configs, "/")
}

func memoryDir(size int64) corev1.VolumeSource {
	ed := &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory}
	if size > 0 {
		ed.SizeLimit = resource.NewQuantity(size, resource.BinarySI)
	}
	return corev1.VolumeSource{EmptyDir: ed}
}

func (b *podBuild) addVolume(name string, src corev1.VolumeSource) {
	b.pod.Volumes = append(b.pod.Volumes, corev1.Volume{Name: name, VolumeSource: src})
}

// fileMounts mounts the service's secrets or configs, each as one file at
// its target (a relative target is under dir, as in Compose).
func (c *converter) fileMounts(b *podBuild, section string, refs []spec.FileRef, dir string) {
	for i, r := range refs {
		p := b.base.with(section, i)
		data, ok := c.fileDataOf[section+"/"+r.Source]
		if !ok {
			continue // its error is reported at the top-level entry
		}
		b.hashParts[section+"/"+r.Source] = data
		target := firstNonEmpty(r.Target, r.Source)
		if !strings.HasPrefix(target, "/") {
			target = dir + target
		}
		if r.UID != "" || r.GID != "" {
			c.warnf(p, "uid and gid are ignored: the file belongs to root, or to the pod's fsGroup")
		}
		name := fmt.Sprintf("%s-%d", strings.TrimSuffix(section, "s"), i)
		var mode *int32
		if r.Mode != nil {
			mode = ptr(int32(*r.Mode))
		}
		obj := sanitize(r.Source)
		if section == "secrets" {
			b.addVolume(name, corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: obj, DefaultMode: mode}})
		} else {
			b.addVolume(name, corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: obj}, DefaultMode: mode}})
		}
		b.ctr.VolumeMounts = append(b.ctr.VolumeMounts, corev1.VolumeMount{Name: name, MountPath: target, SubPath: r.Source, ReadOnly: true})
	}
}

// waits adds an init container per depends_on: service_healthy
// dependency. Readiness is what the dependency's healthcheck became, and a
// Service sends connections only to ready pods, so the init container
// waits until a TCP connection to the dependency's Service succeeds (or,
// for a dependency without ports, until its headless Service resolves,
// which it does only to ready pods). Kubernetes starts init containers in
// order and the app container after the last: the pod then starts after
// its dependencies are healthy, and again after each restart of the pod.
func (c *converter) waits(b *podBuild, s *spec.Service) {
	for _, dep := range sortedKeys(s.DependsOn) {
		d := s.DependsOn[dep]
		ds := c.p.Services[dep]
		if d.Condition != spec.ConditionHealthy || ds == nil {
			continue
		}
		var script string
		if port, ok := firstPort(ds); ok {
			script = fmt.Sprintf("until nc -z -w 2 %s %d; do echo waiting for %s; sleep 2; done", dep, port, dep)
		} else {
			script = fmt.Sprintf("until nslookup %s >/dev/null 2>&1; do echo waiting for %s; sleep 2; done", dep, dep)
		}
		b.pod.InitContainers = append(b.pod.InitContainers, corev1.Container{
			Name:    "wait-for-" + dep,
			Image:   c.opts.WaitImage,
			Command: []string{"sh", "-c", script},
		})
	}
}

// firstPort is the first TCP container port of s's Service.
func firstPort(s *spec.Service) (int32, bool) {
	for _, p := range s.Ports {
		if p.Protocol == "" || p.Protocol == "tcp" {
			return int32(p.Target), true
		}
	}
	for _, e := range s.Expose {
		ps, err := spec.ParsePortSpec(e)
		if err == nil && len(ps) > 0 && (ps[0].Protocol == "" || ps[0].Protocol == "tcp") {
			return int32(ps[0].Target), true
		}
	}
	return 0, false
}

// podOptions maps the pod-wide keys: hostname, extra_hosts, dns,
// dns_search, dns_opt, network_mode: host, stop_grace_period, sysctls.
func (c *converter) podOptions(b *podBuild, s *spec.Service) {
	if s.Hostname != "" {
		if errs := validation.IsDNS1123Label(s.Hostname); len(errs) > 0 {
			c.invalidf(b.base.with("hostname"), "hostname %q: %s", s.Hostname, errs[0])
		} else {
			b.pod.Hostname = s.Hostname
		}
	}
	byIP := map[string][]string{}
	var ips []string
	for _, h := range s.ExtraHosts {
		host, ip, _ := strings.Cut(h, "=")
		if ip == "host-gateway" {
			c.warnf(b.base.with("extra_hosts"), "%s=host-gateway is left out: a pod has no host gateway", host)
			continue
		}
		if byIP[ip] == nil {
			ips = append(ips, ip)
		}
		byIP[ip] = append(byIP[ip], host)
	}
	for _, ip := range ips {
		b.pod.HostAliases = append(b.pod.HostAliases, corev1.HostAlias{IP: ip, Hostnames: byIP[ip]})
	}
	if len(s.DNS) > 0 || len(s.DNSSearch) > 0 || len(s.DNSOpt) > 0 {
		dc := &corev1.PodDNSConfig{Nameservers: s.DNS, Searches: s.DNSSearch}
		for _, o := range s.DNSOpt {
			name, val, hasVal := strings.Cut(o, ":")
			opt := corev1.PodDNSConfigOption{Name: name}
			if hasVal {
				opt.Value = ptr(val)
			}
			dc.Options = append(dc.Options, opt)
		}
		b.pod.DNSConfig = dc
	}
	if s.NetworkMode == "host" {
		b.pod.HostNetwork = true
		b.pod.DNSPolicy = corev1.DNSClusterFirstWithHostNet
	}
	if s.StopGracePeriod != nil {
		b.pod.TerminationGracePeriodSeconds = ptr(int64(seconds(s.StopGracePeriod, 0)))
		if *s.StopGracePeriod == 0 {
			b.pod.TerminationGracePeriodSeconds = ptr(int64(0))
		}
	}
	if len(s.Sysctls) > 0 {
		sc := &corev1.PodSecurityContext{}
		for _, k := range sortedKeys(s.Sysctls) {
			sc.Sysctls = append(sc.Sysctls, corev1.Sysctl{Name: k, Value: s.Sysctls[k]})
		}
		b.pod.SecurityContext = sc
	}
}

// services makes the Services of a service: one named after it, so other
// services find it by name as in Compose, on the container ports (headless
// when it has none, so the name still resolves to its pods); one per
// network alias; one more of x-kubernetes.serviceType (NodePort,
// LoadBalancer) on the published ports; and the Ingress of
// x-kubernetes.ingress.
func (c *converter) services(b *podBuild, s *spec.Service, ext serviceExt) {
	ports := b.ports
	var sp []corev1.ServicePort
	var published []corev1.ServicePort
	for _, p := range ports {
		port := corev1.ServicePort{Name: p.name, Port: p.port, TargetPort: intstr.FromInt32(p.port), Protocol: p.proto}
		if p.appProto != "" {
			port.AppProtocol = ptr(p.appProto)
		}
		sp = append(sp, port)
		if p.published != 0 {
			pub := port
			pub.Port = p.published
			if ext.ServiceType == "NodePort" && p.published >= 30000 && p.published <= 32767 {
				pub.NodePort = p.published
			}
			published = append(published, pub)
		}
	}
	names := []string{b.name}
	for _, net := range sortedKeys(s.Networks) {
		if n := s.Networks[net]; n != nil {
			for j, a := range n.Aliases {
				if a == b.name || slices.Contains(names, a) {
					continue
				}
				if errs := validation.IsDNS1123Label(a); len(errs) > 0 {
					c.warnf(b.base.with("networks", net, "aliases", j), "alias %q is no DNS label, so no Service can carry it: left out", a)
					continue
				}
				names = append(names, a)
			}
		}
	}
	for i, name := range names {
		svc := &corev1.Service{
			TypeMeta:   typeMeta("v1", "Service"),
			ObjectMeta: c.meta(name, b.svc),
			Spec:       corev1.ServiceSpec{Selector: selectorLabels(c.p.Name, b.svc), Ports: sp},
		}
		if len(sp) == 0 {
			svc.Spec.ClusterIP = corev1.ClusterIPNone
		}
		at := b.base
		if i > 0 {
			at = b.base.with("networks")
		}
		c.add(svc, at)
	}
	if ext.ServiceType != "" && ext.ServiceType != "ClusterIP" {
		if len(published) == 0 {
			c.invalidf(b.base.with(ExtensionKey, "serviceType"), "%s needs published ports (ports: HOST:CONTAINER)", ext.ServiceType)
		} else {
			c.add(&corev1.Service{
				TypeMeta:   typeMeta("v1", "Service"),
				ObjectMeta: c.meta(b.name+"-published", b.svc),
				Spec:       corev1.ServiceSpec{Type: corev1.ServiceType(ext.ServiceType), Selector: selectorLabels(c.p.Name, b.svc), Ports: published},
			}, b.base.with(ExtensionKey, "serviceType"))
		}
	}
	if ext.Ingress != nil {
		c.ingress(b, ext.Ingress, sp)
	} else if len(published) > 0 && ext.ServiceType == "" {
		c.warnf(b.base.with("ports"), "published ports are reachable only inside the cluster (as %s:PORT): set x-kubernetes.serviceType or x-kubernetes.ingress to expose them", b.name)
	}
}

func (c *converter) ingress(b *podBuild, in *ingressExt, ports []corev1.ServicePort) {
	p := b.base.with(ExtensionKey, "ingress")
	port := in.Port
	if port == 0 {
		for _, sp := range ports {
			if sp.Protocol == corev1.ProtocolTCP {
				port = sp.Port
				break
			}
		}
	}
	found := false
	for _, sp := range ports {
		found = found || (sp.Port == port && sp.Protocol == corev1.ProtocolTCP)
	}
	if !found {
		c.invalidf(p, "needs a TCP port of the service (ports: or expose:) to send requests to")
		return
	}
	ing := &networkingv1.Ingress{
		TypeMeta:   typeMeta("networking.k8s.io/v1", "Ingress"),
		ObjectMeta: c.meta(b.name, b.svc),
		Spec: networkingv1.IngressSpec{
			Rules: []networkingv1.IngressRule{{
				Host: in.Host,
				IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{
					Paths: []networkingv1.HTTPIngressPath{{
						Path:     in.Path,
						PathType: ptr(networkingv1.PathTypePrefix),
						Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{
							Name: b.name, Port: networkingv1.ServiceBackendPort{Number: port},
						}},
					}},
				}},
			}},
		},
	}
	if in.ClassName != "" {
		ing.Spec.IngressClassName = ptr(in.ClassName)
	}
	if in.TLSSecret != "" {
		ing.Spec.TLS = []networkingv1.IngressTLS{{Hosts: []string{in.Host}, SecretName: in.TLSSecret}}
	}
	c.add(ing, p)
}
