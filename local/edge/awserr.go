package edge

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"hash/crc32"
	"net/http"
	"strconv"
	"time"
)

// protocol is the AWS wire protocol family of a call, which decides how an
// error is rendered.
type protocol int

const (
	protoQuery    protocol = iota // iam, sts, ...: XML ErrorResponse
	protoJSON                     // X-Amz-Target services: {"__type": ...}
	protoRESTJSON                 // lambda, apigateway: X-Amzn-ErrorType + {"message"}
	protoRESTXML                  // s3: <Error><Code>
)

func protocolOf(r *http.Request, c Call) protocol {
	switch {
	case r.Header.Get("X-Amz-Target") != "":
		return protoJSON
	case c.Service == "s3":
		return protoRESTXML
	case c.Service == "lambda" || c.Service == "apigateway":
		return protoRESTJSON
	}
	return protoQuery
}

func requestID() string {
	return "spillway-edge-" + strconv.FormatInt(time.Now().UnixNano(), 36)
}

// defaultMessage gives an AWS-like message for well-known codes.
func defaultMessage(code string) string {
	switch code {
	case "ProvisionedThroughputExceededException":
		return "Rate exceeded (injected by the spillway edge)"
	case "ThrottlingException", "Throttling":
		return "Rate exceeded (injected by the spillway edge)"
	case "SlowDown":
		return "Please reduce your request rate. (injected by the spillway edge)"
	}
	return code + " (injected by the spillway edge)"
}

// writeAWSError answers the request with an AWS error in the call's protocol.
func writeAWSError(w http.ResponseWriter, r *http.Request, c Call, status int, code, msg string) {
	if msg == "" {
		msg = defaultMessage(code)
	}
	id := requestID()
	h := w.Header()
	h.Set("X-Amzn-RequestId", id)
	switch protocolOf(r, c) {
	case protoJSON:
		ct := "application/x-amz-json-1.1"
		if c.Service == "dynamodb" {
			ct = "application/x-amz-json-1.0"
		}
		h.Set("Content-Type", ct)
		h.Set("X-Amzn-ErrorType", code)
		body, _ := json.Marshal(map[string]string{"__type": code, "message": msg})
		if c.Service == "dynamodb" {
			// The DynamoDB client checks the body against this header.
			h.Set("X-Amz-Crc32", strconv.FormatUint(uint64(crc32.ChecksumIEEE(body)), 10))
		}
		w.WriteHeader(status)
		_, _ = w.Write(body)
	case protoRESTJSON:
		h.Set("Content-Type", "application/json")
		h.Set("X-Amzn-ErrorType", code)
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(map[string]string{"Type": "Service", "message": msg})
	case protoRESTXML:
		h.Set("Content-Type", "application/xml")
		h.Set("X-Amz-Request-Id", id)
		w.WriteHeader(status)
		body, _ := xml.Marshal(struct {
			XMLName   xml.Name `xml:"Error"`
			Code      string
			Message   string
			RequestID string `xml:"RequestId"`
		}{Code: code, Message: msg, RequestID: id})
		_, _ = fmt.Fprintf(w, "%s%s", xml.Header, body)
	default:
		h.Set("Content-Type", "text/xml")
		w.WriteHeader(status)
		typ := "Sender"
		if status >= 500 {
			typ = "Receiver"
		}
		body, _ := xml.Marshal(struct {
			XMLName xml.Name `xml:"ErrorResponse"`
			Error   struct {
				Type    string
				Code    string
				Message string
			}
			RequestID string `xml:"RequestId"`
		}{Error: struct {
			Type    string
			Code    string
			Message string
		}{typ, code, msg}, RequestID: id})
		_, _ = fmt.Fprintf(w, "%s%s", xml.Header, body)
	}
}
