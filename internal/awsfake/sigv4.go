package awsfake

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// authenticate checks the SigV4 Authorization header: its form and scope
// always, its signature when the emulator knows the credentials.
func (e *EC2) authenticate(r *http.Request, body []byte) *apiError {
	fail := func(format string, args ...any) *apiError {
		return errorf(http.StatusUnauthorized, "AuthFailure", format, args...)
	}
	h := r.Header.Get("Authorization")
	if h == "" {
		return fail("AWS was not able to validate the provided access credentials: the request has no Authorization header (sign it with SigV4)")
	}
	alg, rest, _ := strings.Cut(h, " ")
	if alg != "AWS4-HMAC-SHA256" {
		return fail("unsupported signature algorithm %q: sign with AWS4-HMAC-SHA256", alg)
	}
	fields := map[string]string{}
	for part := range strings.SplitSeq(rest, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		fields[k] = v
	}
	cred, signedHeaders, sig := fields["Credential"], fields["SignedHeaders"], fields["Signature"]
	scope := strings.Split(cred, "/")
	if len(scope) != 5 || scope[4] != "aws4_request" {
		return fail("malformed Credential %q in the Authorization header", cred)
	}
	akid, date, region, service := scope[0], scope[1], scope[2], scope[3]
	if region != e.opts.region {
		return fail("Credential should be scoped to a valid region, not '%s': this emulator serves %s", region, e.opts.region)
	}
	if service != "ec2" {
		return fail("Credential should be scoped to correct service: 'ec2', not '%s'", service)
	}
	headers := strings.Split(signedHeaders, ";")
	if !slices.Contains(headers, "host") || !slices.Contains(headers, "x-amz-date") {
		return fail("SignedHeaders %q must include host and x-amz-date", signedHeaders)
	}
	amzDate := r.Header.Get("X-Amz-Date")
	if !strings.HasPrefix(amzDate, date) {
		return fail("X-Amz-Date %q does not match the Credential date %s", amzDate, date)
	}
	if len(sig) != 64 {
		return fail("malformed Signature in the Authorization header")
	}
	if e.opts.secretKey == "" {
		return nil
	}
	if akid != e.opts.accessKey {
		return fail("AWS was not able to validate the provided access credentials: unknown access key %s", akid)
	}
	want := sign(e.opts.secretKey, date, region, service, amzDate, canonicalRequest(r, headers, body))
	if !hmac.Equal([]byte(want), []byte(sig)) {
		return fail("AWS was not able to validate the provided access credentials: the signature does not match")
	}
	return nil
}

func canonicalRequest(r *http.Request, headers []string, body []byte) string {
	var b strings.Builder
	b.WriteString(r.Method + "\n")
	path := r.URL.EscapedPath()
	if path == "" {
		path = "/"
	}
	b.WriteString(path + "\n")
	q, _ := url.ParseQuery(r.URL.RawQuery)
	var pairs []string
	for _, k := range slices.Sorted(maps.Keys(q)) {
		vs := slices.Clone(q[k])
		slices.Sort(vs)
		for _, v := range vs {
			pairs = append(pairs, sigEscape(k)+"="+sigEscape(v))
		}
	}
	b.WriteString(strings.Join(pairs, "&") + "\n")
	for _, name := range headers {
		var v string
		switch name {
		case "host":
			v = r.Host
		case "content-length":
			v = strconv.FormatInt(r.ContentLength, 10)
		default:
			vals := r.Header.Values(name)
			for i := range vals {
				vals[i] = strings.Join(strings.Fields(vals[i]), " ")
			}
			v = strings.Join(vals, ",")
		}
		b.WriteString(name + ":" + v + "\n")
	}
	b.WriteString("\n" + strings.Join(headers, ";") + "\n")
	sum := sha256.Sum256(body)
	b.WriteString(hex.EncodeToString(sum[:]))
	return b.String()
}

// sigEscape is SigV4's URI encoding: RFC 3986 unreserved characters stay.
func sigEscape(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(url.QueryEscape(s), "+", "%20"), "%7E", "~")
}

func sign(secret, date, region, service, amzDate, canonical string) string {
	mac := func(key []byte, data string) []byte {
		h := hmac.New(sha256.New, key)
		h.Write([]byte(data))
		return h.Sum(nil)
	}
	k := mac([]byte("AWS4"+secret), date)
	k = mac(k, region)
	k = mac(k, service)
	k = mac(k, "aws4_request")
	sum := sha256.Sum256([]byte(canonical))
	sts := "AWS4-HMAC-SHA256\n" + amzDate + "\n" + date + "/" + region + "/" + service + "/aws4_request\n" + hex.EncodeToString(sum[:])
	return hex.EncodeToString(mac(k, sts))
}
