// Package metrics defines careerrelay's Prometheus metrics in one place, so
// every name and label value is listed once and pre-initialised;
// docs/reference.md documents each one (a test checks it does).
package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Label values known in advance; each is initialised to 0 by Init.
var (
	// RejectReasons are the values of careerrelay_smtp_rejected_total{reason}.
	RejectReasons = []string{
		"relay_denied",     // client neither authenticated nor in a network it may relay from (allow_networks, a tenant's ingress.networks, cloud_networks_file)
		"unknown_sender",   // sender domain belongs to no tenant
		"auth_failed",      // wrong user or password
		"auth_blocked",     // AUTH refused without a password check: the client address's or the user's failure budget is spent, or no check was free in time (454)
		"too_large",        // over max_message_bytes
		"line_too_long",    // a line over max_line_length
		"header_too_large", // a header section over max_header_bytes
		"too_many_rcpts",   // over max_recipients
		"bad_address",      // invalid address: syntax, a control character or NUL, not UTF-8, non-ASCII without SMTPUTF8
		"bad_domain",       // recipient domain never delivered to: address literal, single label, localhost (550 5.1.2)
		"too_many_conns",   // connection limit per client or in all
		"local_error",      // store or pipeline failure, answered 451
		// The ingress refusals (package smtp/ingress):
		"loop",             // our own X-CareerRelay-Processed, or more than max_hops Received
		"bad_from",         // not exactly one From field with one address
		"foreign_from",     // From domain not one of the named tenant's domains
		"tenant_unproven",  // no proof that the mail is the named tenant's
		"ingress_tempfail", // a DKIM key could not be looked up (451)
	}
	// IngressProofs are the values of careerrelay_ingress_total{proof}.
	IngressProofs = []string{"auth", "network", "dkim", "header", "api"}
	// DeliveryResults are the values of careerrelay_delivery_*{result}.
	DeliveryResults = []string{"delivered", "deferred", "bounced"}
	// ClickClasses are the values of careerrelay_link_clicks_total{class}.
	ClickClasses = []string{"human", "bot"}
	// RewriteReasons are the values of careerrelay_rewrite_failures_total{reason}:
	// a text part in a charset careerrelay does not write, a broken transfer
	// encoding, a TNEF body (winmail.dat), a message that cannot be parsed
	// (its raw tags got the generic link), signed content, and a personal
	// link that could not be written (the copy got the generic link).
	RewriteReasons = []string{"charset", "encoding", "tnef", "unparsable", "signed", "link"}
	// WebhookResults are the values of careerrelay_agency_webhooks_total{result}.
	WebhookResults = []string{"ok", "retry", "failed"}
)

// The metrics, in the order of docs/reference.md.
var (
	MessagesReceived = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "careerrelay_smtp_messages_received_total",
		Help: "Messages accepted (250) by the inbound SMTP server, by tenant (\"\" for relayed unknown senders).",
	}, []string{"tenant"})
	Ingress = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "careerrelay_ingress_total",
		Help: "Messages attributed to a tenant, by tenant and the proof that did it (auth, network, dkim, header).",
	}, []string{"tenant", "proof"})
	Rejected = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "careerrelay_smtp_rejected_total",
		Help: "Inbound SMTP commands or messages refused, by reason.",
	}, []string{"reason"})
	LinksInjected = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "careerrelay_rewrite_links_injected_total",
		Help: "Links injected into rewritten copies, by tenant.",
	}, []string{"tenant"})
	RewriteFailures = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "careerrelay_rewrite_failures_total",
		Help: "Places where a tenant's tag could not be rewritten (the mail was delivered with it as it was, or with the generic link), by tenant and reason (RewriteReasons).",
	}, []string{"tenant", "reason"})
	DeliveryAttempts = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "careerrelay_delivery_attempts_total",
		Help: "Outbound delivery attempts, by result (delivered, deferred, bounced).",
	}, []string{"result"})
	DeliveryDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "careerrelay_delivery_duration_seconds",
		Help:    "Duration of outbound delivery attempts, by result.",
		Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300},
	}, []string{"result"})
	QueueMessages = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "careerrelay_queue_messages",
		Help: "Messages in the durable queue (each per-recipient copy counts).",
	})
	LinkClicks = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "careerrelay_link_clicks_total",
		Help: "Personal link clicks, by tenant and class (human, bot).",
	}, []string{"tenant", "class"})
	Referrals = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "careerrelay_referrals_total",
		Help: "Referrals recorded (candidate consent), by tenant.",
	}, []string{"tenant"})
	CreditsGranted = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "careerrelay_credits_granted_total",
		Help: "Credits granted (one per referrals_per_credit referrals), by tenant.",
	}, []string{"tenant"})
	AgencyWebhooks = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "careerrelay_agency_webhooks_total",
		Help: "Agency webhook deliveries, by result (ok, retry, failed).",
	}, []string{"result"})
	StoreUp = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "careerrelay_store_up",
		Help: "1 while the store answers, 0 while it does not: local (the node's bbolt file) and shared (PostgreSQL, with store.shared).",
	}, []string{"store"})
	DKIMSigner = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "careerrelay_dkim_signer_info",
		Help: "1 for the code that makes RSA DKIM signatures, 0 for the other: openssl (libcrypto, loaded at start) or go (Go's crypto/rsa: no cgo, no libcrypto, or CAREERRELAY_CRYPTO=go). Ed25519 signatures are always Go's.",
	}, []string{"impl"})
)

// DKIMSignerImpls are the values of careerrelay_dkim_signer_info's impl
// label (smtp/dkim's Impls).
var DKIMSignerImpls = []string{"openssl", "go"}

// SetDKIMSigner sets careerrelay_dkim_signer_info to 1 for impl, 0 for the
// others.
func SetDKIMSigner(impl string) {
	for _, i := range DKIMSignerImpls {
		v := 0.0
		if i == impl {
			v = 1
		}
		DKIMSigner.WithLabelValues(i).Set(v)
	}
}

// NewRegistry returns a registry holding every careerrelay metric, the Go
// runtime and process collectors, with every known label value set to 0.
// tenants are the configured tenant ids.
func NewRegistry(tenants []string) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		MessagesReceived, Ingress, Rejected, LinksInjected, RewriteFailures,
		DeliveryAttempts, DeliveryDuration, QueueMessages,
		LinkClicks, Referrals, CreditsGranted, AgencyWebhooks, StoreUp,
		DKIMSigner,
	)
	Init(tenants)
	return reg
}

// Init sets every known label combination to 0 so that the series exist
// before the first event (rate() and alerts need them).
func Init(tenants []string) {
	for _, r := range RejectReasons {
		Rejected.WithLabelValues(r)
	}
	for _, r := range DeliveryResults {
		DeliveryAttempts.WithLabelValues(r)
		DeliveryDuration.WithLabelValues(r)
	}
	for _, r := range WebhookResults {
		AgencyWebhooks.WithLabelValues(r)
	}
	// The node's own file is open, or nothing would serve; the server
	// keeps both series current (and adds shared with store.shared).
	StoreUp.WithLabelValues("local").Set(1)
	// The server sets the one in use once the tenants' signers are made.
	for _, i := range DKIMSignerImpls {
		DKIMSigner.WithLabelValues(i)
	}
	for _, t := range tenants {
		MessagesReceived.WithLabelValues(t)
		for _, p := range IngressProofs {
			Ingress.WithLabelValues(t, p)
		}
		LinksInjected.WithLabelValues(t)
		for _, r := range RewriteReasons {
			RewriteFailures.WithLabelValues(t, r)
		}
		Referrals.WithLabelValues(t)
		CreditsGranted.WithLabelValues(t)
		for _, c := range ClickClasses {
			LinkClicks.WithLabelValues(t, c)
		}
	}
}
