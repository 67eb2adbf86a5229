package edge

import (
	"fmt"
	"net/http"
)

// AWS's messages for the DynamoDB limits the edge enforces.
const (
	msgItemTooLarge    = "Item size has exceeded the maximum allowed size"
	msgHashKeyTooLong  = "One or more parameter values were invalid: Size of hashkey has exceeded the maximum size limit of 2048 bytes"
	msgRangeKeyTooLong = "One or more parameter values were invalid: Aggregated size of all range keys has exceeded the size limit of 1024 bytes"
	msgTooManyActions  = "1 validation error detected: Value at 'transactItems' failed to satisfy constraint: Member must have length less than or equal to 100"
	msgTxTooLarge      = "Transaction request cannot be larger than 4 MB"
)

// limitError is a DynamoDB limit a request breaks: a ValidationException
// for the whole request, or, for a transaction, a ValidationError
// cancellation reason at Index.
type limitError struct {
	msg   string
	index int
	// cancel reports the error as a cancellation reason at index instead of
	// a ValidationException.
	cancel bool
}

// checkDDBLimits checks item size, key sizes and transaction limits. It
// returns nil when the request is within them or cannot be judged (a table
// the backend does not know is the backend's to report).
func (s *Server) checkDDBLimits(r *http.Request, c Call, wr ddbWrite) *limitError {
	if wr.op == "TransactWriteItems" && len(wr.actions) > DynamoDBMaxTransactionActions {
		return &limitError{msg: msgTooManyActions}
	}
	total := 0
	var itemErr *limitError
	for i, a := range wr.actions {
		if a.table == "" {
			continue
		}
		ks, err := s.tableKeys(r, c, a.table)
		if err != nil {
			s.log.Debug("dynamodb limits not checked", "table", a.table, "err", err)
			continue
		}
		key := a.key
		size := 0
		if a.put != nil {
			key = ks.keyOf(a.put)
			if size, err = itemSize(a.put); err != nil {
				continue // malformed: the backend answers it
			}
		} else if size, err = itemSize(key); err != nil {
			continue
		}
		if le := keyLimits(ks, key); le != nil {
			return le
		}
		if a.values != nil {
			if n, err := itemSize(a.values); err == nil {
				size += n
			}
		}
		total += size
		if a.put != nil && size > DynamoDBMaxItemBytes && itemErr == nil {
			itemErr = &limitError{msg: msgItemTooLarge, index: i, cancel: wr.op == "TransactWriteItems"}
		}
	}
	if wr.op == "TransactWriteItems" && total > DynamoDBMaxTransactionBytes {
		return &limitError{msg: msgTxTooLarge}
	}
	return itemErr
}

// keyLimits checks the partition and sort key value sizes of key.
func keyLimits(ks keySchema, key item) *limitError {
	if v, ok := key[ks.hash]; ok {
		if n, err := valueSize(v); err == nil && n > DynamoDBMaxPartitionKeyBytes {
			return &limitError{msg: msgHashKeyTooLong}
		}
	}
	if v, ok := key[ks.rng]; ok && ks.rng != "" {
		if n, err := valueSize(v); err == nil && n > DynamoDBMaxSortKeyBytes {
			return &limitError{msg: msgRangeKeyTooLong}
		}
	}
	return nil
}

// answer writes the limit error in DynamoDB's protocol.
func (le *limitError) answer(w http.ResponseWriter, wr ddbWrite) {
	if le.cancel {
		cancelled(w, len(wr.actions), map[int]cancellationReason{le.index: {Code: "ValidationError", Message: le.msg}})
		return
	}
	ddbError(w, ddbValidation, le.msg, nil)
}

func (le *limitError) String() string { return fmt.Sprintf("%s (action %d)", le.msg, le.index) }
