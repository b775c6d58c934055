package awscount

import (
	"math"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/promptq/promptq/internal/jobstable"
)

// Units are DynamoDB read and write request units (on-demand), or
// capacity units (provisioned): the same arithmetic.
type Units struct {
	Read  float64
	Write float64
	// Estimated counts the calls whose units were worked out from item
	// sizes; the others came from the response's ConsumedCapacity.
	Estimated int64
	Measured  int64
}

// Capacity adds up the DynamoDB units of the calls it observes: what the
// response's ConsumedCapacity says when it has one (the caller asked for
// it and the service returned it), otherwise an estimate from the sizes
// of the items in the request and response, by DynamoDB's rules: a read
// unit per 4 KB read (half for an eventually consistent read), a write unit
// per 1 KB written, twice that inside a transaction, each item rounded up
// on its own (a Query's items together).
//
// What the estimate cannot see it assumes, and says so here: an update or
// delete whose item the response does not return counts as one item of at
// most 1 KB; an update that returns the new item counts at its new size
// (DynamoDB charges the larger of old and new; promptq's items only grow);
// a Query with Select=COUNT returns no items, so it counts ScannedCount
// entries of [CountedEntryBytes] each.
//
// A write also costs a unit for promptq's sparse `active` index when the
// item is in it after the write (it has active_owner) or leaves it (the
// update removes active_owner): every write promptq makes to an active job
// changes updated_at, which the index projects, and an entry is well under
// 1 KB. Other indexes are not counted; promptq has none.
//
// An update inside a transaction returns nothing, so its item's size is
// the last size Capacity saw for that key (a GetItem's or an UpdateItem's
// answer, a put), or one item of at most 1 KB if it saw none: promptq
// reads a job before the transaction that ends it.
//
// Use its Observe method as an observer of a [Counter].
type Capacity struct {
	mu    sync.Mutex
	ops   map[string]*Units
	sizes map[string]int // table, pk and sk → the item's last seen size
}

// CountedEntryBytes is the assumed size of an entry read by a Query that
// only counts: an entry of promptq's `active` index holds the table's keys
// (pk "USER#<sub>", sk "JOB#<id>") and the index key (the sub), about 130
// bytes with the attribute names, and the projected status, updated_at,
// lease_until and attempts, about 85 more.
const CountedEntryBytes = 215

// NewCapacity returns an empty tally.
func NewCapacity() *Capacity { return &Capacity{ops: map[string]*Units{}, sizes: map[string]int{}} }

// Units returns the units per DynamoDB operation so far.
func (c *Capacity) Units() map[string]Units {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]Units, len(c.ops))
	for k, v := range c.ops {
		out[k] = *v
	}
	return out
}

// Total is the sum over all operations.
func (c *Capacity) Total() Units {
	var t Units
	for _, u := range c.Units() {
		t.Read += u.Read
		t.Write += u.Write
		t.Estimated += u.Estimated
		t.Measured += u.Measured
	}
	return t
}

// Reset forgets the tally.
func (c *Capacity) Reset() {
	c.mu.Lock()
	c.ops = map[string]*Units{}
	c.mu.Unlock()
}

// Observe adds one call's units; calls to other services are ignored.
func (c *Capacity) Observe(call Call) {
	if call.Service != "DynamoDB" {
		return
	}
	u, ok := measured(call.Output)
	if ok {
		u.Measured = 1
	} else {
		c.mu.Lock()
		u = estimate(call, func(table string, key map[string]types.AttributeValue) int {
			return c.sizes[sizeKey(table, key)]
		})
		c.mu.Unlock()
		u.Estimated = 1
	}
	c.mu.Lock()
	c.remember(call)
	t, found := c.ops[call.Operation]
	if !found {
		t = &Units{}
		c.ops[call.Operation] = t
	}
	t.Read += u.Read
	t.Write += u.Write
	t.Estimated += u.Estimated
	t.Measured += u.Measured
	c.mu.Unlock()
}

// remember keeps the sizes of the items call read or wrote whole. c.mu is
// held.
func (c *Capacity) remember(call Call) {
	if c.sizes == nil {
		c.sizes = map[string]int{}
	}
	keep := func(table string, item map[string]types.AttributeValue) {
		if len(item) > 0 {
			c.sizes[sizeKey(table, item)] = ItemSize(item)
		}
	}
	switch in := call.Input.(type) {
	case *dynamodb.GetItemInput:
		if o, ok := call.Output.(*dynamodb.GetItemOutput); ok && o != nil {
			keep(aws.ToString(in.TableName), o.Item)
		}
	case *dynamodb.UpdateItemInput:
		if o, ok := call.Output.(*dynamodb.UpdateItemOutput); ok && o != nil {
			keep(aws.ToString(in.TableName), o.Attributes)
		}
	case *dynamodb.PutItemInput:
		keep(aws.ToString(in.TableName), in.Item)
	case *dynamodb.TransactWriteItemsInput:
		for _, it := range in.TransactItems {
			if it.Put != nil {
				keep(aws.ToString(it.Put.TableName), it.Put.Item)
			}
		}
	}
}

// sizeKey names an item by its table and keys (pk and sk, promptq's).
func sizeKey(table string, item map[string]types.AttributeValue) string {
	k := table
	for _, a := range []string{jobstable.PartitionKey, jobstable.SortKey} {
		if v, ok := item[a].(*types.AttributeValueMemberS); ok {
			k += "\x00" + v.Value
		}
	}
	return k
}

// measured reads the ConsumedCapacity of an output that has one.
func measured(out any) (Units, bool) {
	var ccs []types.ConsumedCapacity
	switch o := out.(type) {
	case *dynamodb.GetItemOutput:
		ccs = one(o.ConsumedCapacity)
	case *dynamodb.PutItemOutput:
		ccs = one(o.ConsumedCapacity)
	case *dynamodb.UpdateItemOutput:
		ccs = one(o.ConsumedCapacity)
	case *dynamodb.DeleteItemOutput:
		ccs = one(o.ConsumedCapacity)
	case *dynamodb.QueryOutput:
		ccs = one(o.ConsumedCapacity)
	case *dynamodb.ScanOutput:
		ccs = one(o.ConsumedCapacity)
	case *dynamodb.BatchGetItemOutput:
		ccs = o.ConsumedCapacity
	case *dynamodb.BatchWriteItemOutput:
		ccs = o.ConsumedCapacity
	case *dynamodb.TransactWriteItemsOutput:
		ccs = o.ConsumedCapacity
	case *dynamodb.TransactGetItemsOutput:
		ccs = o.ConsumedCapacity
	}
	if len(ccs) == 0 {
		return Units{}, false
	}
	var u Units
	for _, cc := range ccs {
		r, w := aws.ToFloat64(cc.ReadCapacityUnits), aws.ToFloat64(cc.WriteCapacityUnits)
		if r == 0 && w == 0 {
			// Only the total: reads and writes are told apart by the call.
			switch out.(type) {
			case *dynamodb.GetItemOutput, *dynamodb.QueryOutput, *dynamodb.ScanOutput,
				*dynamodb.BatchGetItemOutput, *dynamodb.TransactGetItemsOutput:
				r = aws.ToFloat64(cc.CapacityUnits)
			default:
				w = aws.ToFloat64(cc.CapacityUnits)
			}
		}
		u.Read += r
		u.Write += w
	}
	return u, true
}

func one(cc *types.ConsumedCapacity) []types.ConsumedCapacity {
	if cc == nil {
		return nil
	}
	return []types.ConsumedCapacity{*cc}
}

const (
	readUnitBytes  = 4096
	writeUnitBytes = 1024
)

func readUnits(bytes int, consistent bool) float64 {
	n := math.Max(1, math.Ceil(float64(bytes)/readUnitBytes))
	if !consistent {
		n /= 2
	}
	return n
}

func writeUnits(bytes int) float64 {
	return math.Max(1, math.Ceil(float64(bytes)/writeUnitBytes))
}

// estimate works a call's units out from item sizes (see Capacity).
func estimate(call Call, lastSize func(table string, key map[string]types.AttributeValue) int) Units {
	var u Units
	switch in := call.Input.(type) {
	case *dynamodb.GetItemInput:
		size := 0
		if o, ok := call.Output.(*dynamodb.GetItemOutput); ok {
			size = ItemSize(o.Item)
		}
		u.Read = readUnits(size, aws.ToBool(in.ConsistentRead))
	case *dynamodb.QueryInput:
		size := 0
		if o, ok := call.Output.(*dynamodb.QueryOutput); ok {
			if in.Select == types.SelectCount {
				size = int(o.ScannedCount) * CountedEntryBytes
			}
			for _, it := range o.Items {
				size += ItemSize(it)
			}
		}
		u.Read = readUnits(size, aws.ToBool(in.ConsistentRead))
	case *dynamodb.ScanInput:
		size := 0
		if o, ok := call.Output.(*dynamodb.ScanOutput); ok {
			for _, it := range o.Items {
				size += ItemSize(it)
			}
		}
		u.Read = readUnits(size, aws.ToBool(in.ConsistentRead))
	case *dynamodb.BatchGetItemInput:
		var responses map[string][]map[string]types.AttributeValue
		if o, ok := call.Output.(*dynamodb.BatchGetItemOutput); ok {
			responses = o.Responses
		}
		for table, ka := range in.RequestItems {
			consistent := aws.ToBool(ka.ConsistentRead)
			for _, it := range responses[table] {
				u.Read += readUnits(ItemSize(it), consistent)
			}
			// A key with no item still costs the smallest read.
			for range max(0, len(ka.Keys)-len(responses[table])) {
				u.Read += readUnits(0, consistent)
			}
		}
	case *dynamodb.PutItemInput:
		u.Write = writeUnits(ItemSize(in.Item)) + indexWrite(in.Item, "")
	case *dynamodb.UpdateItemInput:
		size := 0
		var after map[string]types.AttributeValue
		if o, ok := call.Output.(*dynamodb.UpdateItemOutput); ok && o != nil {
			size, after = ItemSize(o.Attributes), o.Attributes
		}
		u.Write = writeUnits(size)
		if call.Output != nil { // a failed write changes no index
			u.Write += indexWrite(after, aws.ToString(in.UpdateExpression))
		}
	case *dynamodb.DeleteItemInput:
		size := 0
		if o, ok := call.Output.(*dynamodb.DeleteItemOutput); ok {
			size = ItemSize(o.Attributes)
		}
		u.Write = writeUnits(size)
	case *dynamodb.BatchWriteItemInput:
		for _, reqs := range in.RequestItems {
			for _, r := range reqs {
				size := 0
				if r.PutRequest != nil {
					size = ItemSize(r.PutRequest.Item)
					u.Write += indexWrite(r.PutRequest.Item, "")
				}
				u.Write += writeUnits(size)
			}
		}
	case *dynamodb.TransactWriteItemsInput:
		for _, it := range in.TransactItems {
			size := 0
			if it.Put != nil {
				size = ItemSize(it.Put.Item)
				u.Write += indexWrite(it.Put.Item, "")
			}
			if it.Update != nil {
				u.Write += indexWrite(nil, aws.ToString(it.Update.UpdateExpression))
				size = lastSize(aws.ToString(it.Update.TableName), it.Update.Key)
			}
			u.Write += 2 * writeUnits(size)
		}
	case *dynamodb.TransactGetItemsInput:
		u.Read = 2 * float64(len(in.TransactItems))
		if o, ok := call.Output.(*dynamodb.TransactGetItemsOutput); ok {
			u.Read = 0
			for _, r := range o.Responses {
				u.Read += 2 * readUnits(ItemSize(r.Item), true)
			}
		}
	}
	return u
}

// activeOwner is the key attribute of promptq's sparse `active` index.
const activeOwner = "active_owner"

// indexWrite is the index write units of a write whose item is after
// (when known) and whose update expression is update (empty for a put):
// one when the item is in the index after the write, or the update sets
// or removes its key; else none.
func indexWrite(after map[string]types.AttributeValue, update string) float64 {
	if _, ok := after[activeOwner]; ok || strings.Contains(update, activeOwner) {
		return 1
	}
	return 0
}

// ItemSize is an item's size as DynamoDB counts it for capacity: each
// attribute's name plus its value, where a string or binary is its bytes,
// a number about one byte per two significant digits plus one, a boolean
// or null one byte, and a list or map three bytes plus one per element
// plus the elements (with a map's keys).
func ItemSize(item map[string]types.AttributeValue) int {
	n := 0
	for name, v := range item {
		n += len(name) + valueSize(v)
	}
	return n
}

func valueSize(v types.AttributeValue) int {
	switch v := v.(type) {
	case *types.AttributeValueMemberS:
		return len(v.Value)
	case *types.AttributeValueMemberN:
		return numberSize(v.Value)
	case *types.AttributeValueMemberB:
		return len(v.Value)
	case *types.AttributeValueMemberBOOL, *types.AttributeValueMemberNULL:
		return 1
	case *types.AttributeValueMemberSS:
		n := 0
		for _, s := range v.Value {
			n += len(s)
		}
		return n
	case *types.AttributeValueMemberNS:
		n := 0
		for _, s := range v.Value {
			n += numberSize(s)
		}
		return n
	case *types.AttributeValueMemberBS:
		n := 0
		for _, b := range v.Value {
			n += len(b)
		}
		return n
	case *types.AttributeValueMemberL:
		n := 3
		for _, e := range v.Value {
			n += 1 + valueSize(e)
		}
		return n
	case *types.AttributeValueMemberM:
		n := 3
		for k, e := range v.Value {
			n += 1 + len(k) + valueSize(e)
		}
		return n
	}
	return 0
}

// numberSize is a number's size: one byte per two significant digits,
// plus one.
func numberSize(s string) int {
	s = strings.TrimLeft(s, "+-")
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		s = s[:i]
	}
	s = strings.Replace(s, ".", "", 1)
	s = strings.TrimLeft(s, "0")
	s = strings.TrimRight(s, "0")
	digits := max(len(s), 1)
	return (digits+1)/2 + 1
}
