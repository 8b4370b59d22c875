package main

// FerretDB v1 on SQLite applies an update as read, modify in memory, write — without holding a
// lock across the three — so two updates of one document at the same moment can lose one of
// them, and an optimistic "version == n" guard can let both through. MongoDB does neither.
// This proxy, in front of the embedded FerretDB, runs the write commands on one database one at
// a time: a write command is forwarded and its reply awaited while that database's lock is held;
// reads pass freely. Each database is its own SQLite file, which takes one writer at a time
// anyway, so little throughput is lost, and writes to different databases (one per service)
// still run side by side. A write whose database cannot be read from the message runs alone.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
)

const (
	opMsg        = 2013
	maxMessage   = 48 * 1024 * 1024
	flagMoreNext = 1 << 1 // OP_MSG moreToCome
)

// writeCommands change data or metadata; each is run alone.
var writeCommands = map[string]bool{
	"insert": true, "update": true, "delete": true, "findAndModify": true, "findandmodify": true,
	"createIndexes": true, "dropIndexes": true, "drop": true, "dropDatabase": true,
	"create": true, "renameCollection": true,
}

type serializer struct {
	backend string // FerretDB's own listener (unix socket)
	logger  *slog.Logger
	// all is held shared by every write on a known database and exclusively by a write
	// whose database is unknown; perDB holds one lock per database name.
	all   sync.RWMutex
	mu    sync.Mutex
	perDB map[string]*sync.Mutex
}

// lock takes the locks a write on database db needs and returns the function releasing them.
func (s *serializer) lock(db string) func() {
	if db == "" {
		s.all.Lock()
		return s.all.Unlock
	}
	s.mu.Lock()
	if s.perDB == nil {
		s.perDB = map[string]*sync.Mutex{}
	}
	m, ok := s.perDB[db]
	if !ok {
		m = &sync.Mutex{}
		s.perDB[db] = m
	}
	s.mu.Unlock()
	s.all.RLock()
	m.Lock()
	return func() {
		m.Unlock()
		s.all.RUnlock()
	}
}

func (s *serializer) serve(ln net.Listener) error {
	for {
		client, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
		go s.handle(client)
	}
}

func (s *serializer) handle(client net.Conn) {
	defer client.Close()
	server, err := net.Dial("unix", s.backend)
	if err != nil {
		s.logger.Error("proxy: cannot reach FerretDB", slog.String("error", err.Error()))
		return
	}
	defer server.Close()
	for {
		request, err := readMessage(client)
		if err != nil {
			return // the client went away
		}
		write, moreToCome := inspect(request)
		var unlock func()
		if write {
			unlock = s.lock(databaseOf(request))
		}
		err = s.exchange(client, server, request, moreToCome)
		if unlock != nil {
			unlock()
		}
		if err != nil {
			return
		}
	}
}

// exchange forwards one request and relays its replies (several while the server says more).
func (s *serializer) exchange(client, server net.Conn, request []byte, moreToCome bool) error {
	if _, err := server.Write(request); err != nil {
		return err
	}
	if moreToCome {
		return nil // an unacknowledged write: no reply comes
	}
	for {
		reply, err := readMessage(server)
		if err != nil {
			return err
		}
		if _, err = client.Write(reply); err != nil {
			return err
		}
		if _, more := inspect(reply); !more {
			return nil
		}
	}
}

func readMessage(r io.Reader) ([]byte, error) {
	var header [16]byte
	if _, err := io.ReadFull(r, header[:]); err != nil {
		return nil, err
	}
	length := int(binary.LittleEndian.Uint32(header[0:4]))
	if length < 16 || length > maxMessage {
		return nil, fmt.Errorf("bad message length %d", length)
	}
	message := make([]byte, length)
	copy(message, header[:])
	if _, err := io.ReadFull(r, message[16:]); err != nil {
		return nil, err
	}
	return message, nil
}

// inspect says whether an OP_MSG carries a write command and whether its moreToCome flag is set.
func inspect(message []byte) (write, moreToCome bool) {
	if len(message) < 21 || binary.LittleEndian.Uint32(message[12:16]) != opMsg {
		return false, false
	}
	flags := binary.LittleEndian.Uint32(message[16:20])
	moreToCome = flags&flagMoreNext != 0
	body := message[20:]
	for len(body) > 5 {
		kind := body[0]
		size := int(binary.LittleEndian.Uint32(body[1:5]))
		if kind == 1 { // a document sequence: int32 size, identifier, documents
			if size < 4 || size+1 > len(body) {
				return false, moreToCome
			}
			body = body[1+size:]
			continue
		}
		// kind 0: the command document; its first key is the command's name.
		doc := body[1:]
		if size < 5 || size > len(doc) || doc[4] == 0 {
			return false, moreToCome
		}
		name := doc[5:]
		end := 0
		for end < len(name) && name[end] != 0 {
			end++
		}
		return writeCommands[string(name[:end])], moreToCome
	}
	return false, moreToCome
}

// databaseOf returns the "$db" field of an OP_MSG's command document, or "" if it cannot be read.
func databaseOf(message []byte) string {
	if len(message) < 21 || binary.LittleEndian.Uint32(message[12:16]) != opMsg {
		return ""
	}
	body := message[20:]
	for len(body) > 5 {
		kind := body[0]
		size := int(binary.LittleEndian.Uint32(body[1:5]))
		if kind == 1 {
			if size < 4 || size+1 > len(body) {
				return ""
			}
			body = body[1+size:]
			continue
		}
		doc := body[1:]
		if size < 5 || size > len(doc) {
			return ""
		}
		return stringField(doc[4:size-1], "$db")
	}
	return ""
}

// stringField walks a BSON document's elements (without the length prefix and the final zero)
// and returns the string value of key, or "" if it is absent or the document cannot be walked.
func stringField(elements []byte, key string) string {
	for len(elements) > 0 {
		kind := elements[0]
		rest := elements[1:]
		end := 0
		for end < len(rest) && rest[end] != 0 {
			end++
		}
		if end == len(rest) {
			return ""
		}
		name := string(rest[:end])
		value := rest[end+1:]
		n := valueSize(kind, value)
		if n < 0 || n > len(value) {
			return ""
		}
		if name == key {
			if kind != 0x02 || n < 5 {
				return ""
			}
			return string(value[4 : n-1])
		}
		elements = value[n:]
	}
	return ""
}

// valueSize is the size in bytes of a BSON value of the given type at the start of v, or -1.
func valueSize(kind byte, v []byte) int {
	int32At := func(off int) int {
		if len(v) < off+4 {
			return -1
		}
		return int(int32(binary.LittleEndian.Uint32(v[off : off+4])))
	}
	cstring := func(off int) int {
		for i := off; i < len(v); i++ {
			if v[i] == 0 {
				return i + 1 - off
			}
		}
		return -1
	}
	switch kind {
	case 0x01, 0x09, 0x11, 0x12: // double, datetime, timestamp, int64
		return 8
	case 0x02, 0x0D, 0x0E: // string, JavaScript code, symbol
		if n := int32At(0); n >= 1 {
			return 4 + n
		}
		return -1
	case 0x03, 0x04, 0x0F: // document, array, code with scope
		return int32At(0)
	case 0x05: // binary
		if n := int32At(0); n >= 0 {
			return 5 + n
		}
		return -1
	case 0x06, 0x0A, 0xFF, 0x7F: // undefined, null, min key, max key
		return 0
	case 0x07: // ObjectId
		return 12
	case 0x08: // bool
		return 1
	case 0x0B: // regex: two C strings
		a := cstring(0)
		if a < 0 {
			return -1
		}
		b := cstring(a)
		if b < 0 {
			return -1
		}
		return a + b
	case 0x0C: // DBPointer: string then ObjectId
		if n := int32At(0); n >= 1 {
			return 4 + n + 12
		}
		return -1
	case 0x10: // int32
		return 4
	case 0x13: // decimal128
		return 16
	}
	return -1
}
