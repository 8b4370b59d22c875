package main

import (
	"encoding/binary"
	"testing"
	"time"
)

// element appends one BSON element (type, name, raw value) to a document body.
func element(kind byte, name string, value []byte) []byte {
	out := append([]byte{kind}, name...)
	out = append(out, 0)
	return append(out, value...)
}

func bsonString(s string) []byte {
	out := binary.LittleEndian.AppendUint32(nil, uint32(len(s)+1))
	out = append(out, s...)
	return append(out, 0)
}

func document(elements ...[]byte) []byte {
	var body []byte
	for _, e := range elements {
		body = append(body, e...)
	}
	out := binary.LittleEndian.AppendUint32(nil, uint32(len(body)+5))
	out = append(out, body...)
	return append(out, 0)
}

// opMsgWith wraps a command document (and optionally a document sequence first) in an OP_MSG.
func opMsgWith(command []byte, sequence []byte) []byte {
	var sections []byte
	if sequence != nil {
		size := binary.LittleEndian.AppendUint32(nil, uint32(4+len("documents")+1+len(sequence)))
		sections = append(sections, 1)
		sections = append(sections, size...)
		sections = append(sections, "documents"...)
		sections = append(sections, 0)
		sections = append(sections, sequence...)
	}
	sections = append(sections, 0)
	sections = append(sections, command...)
	header := make([]byte, 20)
	binary.LittleEndian.PutUint32(header[0:4], uint32(20+len(sections)))
	binary.LittleEndian.PutUint32(header[12:16], opMsg)
	return append(header, sections...)
}

func TestDatabaseOfReadsDbAfterOtherFields(t *testing.T) {
	int64Value := make([]byte, 8)
	command := document(
		element(0x02, "insert", bsonString("outbox")),
		element(0x08, "ordered", []byte{1}),
		element(0x12, "maxTimeMS", int64Value),
		element(0x03, "lsid", document(element(0x05, "id", append(binary.LittleEndian.AppendUint32(nil, 16), append([]byte{4}, make([]byte, 16)...)...)))),
		element(0x0B, "pattern", []byte("a.*\x00i\x00")),
		element(0x02, "$db", bsonString("crm_contacts")),
	)
	doc := document(element(0x02, "_id", bsonString("x")))
	for _, msg := range [][]byte{opMsgWith(command, nil), opMsgWith(command, doc)} {
		write, _ := inspect(msg)
		if !write {
			t.Fatalf("insert not seen as a write")
		}
		if got := databaseOf(msg); got != "crm_contacts" {
			t.Fatalf("databaseOf = %q, want crm_contacts", got)
		}
	}
}

func TestDatabaseOfUnknownWhenAbsentOrTruncated(t *testing.T) {
	command := document(element(0x02, "find", bsonString("c")))
	if got := databaseOf(opMsgWith(command, nil)); got != "" {
		t.Fatalf("databaseOf = %q, want empty", got)
	}
	broken := document(element(0x02, "find", bsonString("c")), element(0x42, "odd", nil), element(0x02, "$db", bsonString("x")))
	if got := databaseOf(opMsgWith(broken, nil)); got != "" {
		t.Fatalf("databaseOf of an unknown BSON type = %q, want empty", got)
	}
	if got := databaseOf([]byte{1, 2, 3}); got != "" {
		t.Fatalf("databaseOf of a short message = %q", got)
	}
}

func TestWritesOnOneDatabaseExcludeEachOtherButNotOtherDatabases(t *testing.T) {
	s := &serializer{}
	unlockA := s.lock("a")
	done := make(chan struct{})
	go func() {
		unlock := s.lock("b") // another database: not blocked
		unlock()
		close(done)
	}()
	<-done
	second := make(chan struct{})
	go func() {
		unlock := s.lock("a") // the same database: waits for the first
		close(second)
		unlock()
	}()
	select {
	case <-second:
		t.Fatal("a second write on database a ran while the first held its lock")
	case <-time.After(200 * time.Millisecond):
	}
	unlockA()
	<-second
}
