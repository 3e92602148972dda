package awsfake

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/leadergate/leadergate/internal/awsfake/internal/fakeserver"
)

const (
	ec2APIVersion = "2016-11-15"
	ec2XMLNS      = "http://ec2.amazonaws.com/doc/" + ec2APIVersion + "/"
)

// apiError is an EC2 error answer.
type apiError struct {
	status int
	code   string
	msg    string
}

func errorf(status int, code, format string, args ...any) *apiError {
	return &apiError{status: status, code: code, msg: fmt.Sprintf(format, args...)}
}

func badRequest(code, format string, args ...any) *apiError {
	return errorf(http.StatusBadRequest, code, format, args...)
}

// actions are the EC2 actions the emulator knows.
var actions = map[string]func(*EC2, url.Values, string) ([]byte, *apiError){
	"DescribeInstances": (*EC2).describeInstances,
	"CreateTags":        (*EC2).createTags,
	"DeleteTags":        (*EC2).deleteTags,
}

// ServeHTTP answers one EC2 Query API request.
func (e *EC2) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, fakeserver.MaxBody+1))
	params := url.Values{}
	var perr *apiError
	switch {
	case err != nil:
		perr = badRequest("InvalidRequest", "read the request body: %v", err)
	case len(body) > fakeserver.MaxBody:
		perr = errorf(http.StatusRequestEntityTooLarge, "RequestEntityTooLarge", "the request body is larger than %d bytes", fakeserver.MaxBody)
	default:
		perr = parseParams(r, body, params)
	}
	c := &Call{Action: params.Get("Action"), Params: params, Attempt: fakeserver.SDKAttempt(r.Header.Get("Amz-Sdk-Request"))}
	e.record(c)

	reqID := e.requestID()
	out, aerr, answer := e.handle(r, body, params, perr, reqID)
	if !answer {
		e.opts.logger.Debug("ec2 request got no answer", "action", c.Action, "request_id", reqID)
		// Drop the connection without a response, as a lost answer would.
		panic(http.ErrAbortHandler)
	}
	w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	w.Header().Set("X-Amzn-Requestid", reqID)
	if aerr != nil {
		e.answered(c, aerr.status, aerr.code)
		e.opts.logger.Debug("ec2 request failed", "action", c.Action, "status", aerr.status, "code", aerr.code, "message", aerr.msg, "request_id", reqID)
		if aerr.status == http.StatusServiceUnavailable {
			w.Header().Set("Retry-After", "1")
		}
		w.WriteHeader(aerr.status)
		_, _ = w.Write(errorXML(aerr, reqID))
		return
	}
	e.answered(c, http.StatusOK, "")
	e.opts.logger.Debug("ec2 request", "action", c.Action, "request_id", reqID)
	w.Header().Set("Content-Length", strconv.Itoa(len(out)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(out)
}

// handle decides the answer; answer is false when the request must get none.
func (e *EC2) handle(r *http.Request, body []byte, params url.Values, perr *apiError, reqID string) (out []byte, aerr *apiError, answer bool) {
	if r.Method != http.MethodPost && r.Method != http.MethodGet {
		return nil, errorf(http.StatusMethodNotAllowed, "InvalidHttpRequest", "the HTTP method %s is not supported: use POST", r.Method), true
	}
	if aerr := e.authenticate(r, body); aerr != nil {
		return nil, aerr, true
	}
	if perr != nil {
		return nil, perr, true
	}
	action := params.Get("Action")
	if action == "" {
		return nil, badRequest("MissingAction", "The request must contain the parameter Action"), true
	}
	switch v := params.Get("Version"); v {
	case ec2APIVersion:
	case "":
		return nil, badRequest("MissingParameter", "The request must contain the parameter Version"), true
	default:
		return nil, badRequest("NoSuchVersion", "The requested version (%s) of service AmazonEC2 does not exist", v), true
	}
	run, ok := actions[action]
	if !ok {
		return nil, badRequest("InvalidAction", "The action %s is not valid for this web service.", action), true
	}

	f, hit, latency := e.faults.Take(action)
	if !e.srv.Sleep(r.Context(), latency, false) {
		return nil, nil, false
	}
	if hit {
		if aerr := f.ec2Error(e.opts.accountID, action); aerr != nil {
			return nil, aerr, true
		}
		if f.Kind == Hang && !e.srv.Sleep(r.Context(), f.Delay, true) {
			return nil, nil, false
		}
	}
	out, aerr = run(e, params, reqID)
	return out, aerr, true
}

// parseParams decodes the query string and, for a POST, the form body.
func parseParams(r *http.Request, body []byte, params url.Values) *apiError {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return badRequest("InvalidQueryParameter", "malformed query string: %v", err)
	}
	for k, v := range q {
		params[k] = append(params[k], v...)
	}
	if r.Method != http.MethodPost || len(body) == 0 {
		return nil
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/x-www-form-urlencoded") {
		return badRequest("InvalidRequest", "the content type %q is not supported: send application/x-www-form-urlencoded", ct)
	}
	f, err := url.ParseQuery(string(body))
	if err != nil {
		return badRequest("InvalidQueryParameter", "malformed form body: %v", err)
	}
	for k, v := range f {
		params[k] = append(params[k], v...)
	}
	return nil
}

func errorXML(aerr *apiError, reqID string) []byte {
	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	b.WriteString("<Response><Errors><Error><Code>")
	xmlText(&b, aerr.code)
	b.WriteString("</Code><Message>")
	xmlText(&b, aerr.msg)
	b.WriteString("</Message></Error></Errors><RequestID>")
	xmlText(&b, reqID)
	b.WriteString("</RequestID></Response>")
	return b.Bytes()
}

func xmlText(b *bytes.Buffer, s string) {
	_ = xml.EscapeText(b, []byte(s))
}

// elem writes <tag>text</tag>.
func elem(b *bytes.Buffer, tag, text string) {
	b.WriteByte('<')
	b.WriteString(tag)
	b.WriteByte('>')
	xmlText(b, text)
	b.WriteString("</")
	b.WriteString(tag)
	b.WriteByte('>')
}
