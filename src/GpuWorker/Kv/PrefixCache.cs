using System.Buffers.Binary;
using System.Security.Cryptography;

namespace AlisaCluster.GpuWorker.Kv;

/// <summary>Automatic prefix caching (vLLM's): a full KV block is known by a hash chained over the previous block's
/// hash and its own token ids, seeded with what else shapes the K/V (model, dtype, storage format), so equal hashes
/// mean equal K/V. A new sequence shares the longest chain of cached blocks of its tokens (reference counted) instead
/// of prefilling them. Blocks nobody holds stay cached, and are evicted least recently released first, only when the
/// pool needs blocks. Only full blocks are shared, so no sequence ever writes into a shared block.
/// Untiered pools only: a shared block must stay where it is (GPU block = logical block).</summary>
public sealed class PrefixCache
{
    private readonly KvCache _cache;
    private readonly UInt128 _seed;
    private readonly Dictionary<UInt128, int> _blockOf = new();
    private readonly Dictionary<int, Entry> _entries = new();   // every cached block, held or not
    private readonly LinkedList<int> _unheld = new();           // cached blocks no sequence holds, oldest release first

    private sealed class Entry(UInt128 hash)
    {
        public UInt128 Hash { get; } = hash;
        public int Holders { get; set; }
        public LinkedListNode<int>? Unheld { get; set; }
    }

    /// <param name="identity">what besides the tokens determines a block's K/V (model, dtype, KV format)</param>
    public PrefixCache(KvCache cache, string identity)
    {
        if (cache.IsTiered) throw new ArgumentException("prefix caching needs an untiered KV pool", nameof(cache));
        _cache = cache;
        _seed = BinaryPrimitives.ReadUInt128LittleEndian(SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(identity)));
    }

    /// <summary>Cached blocks (held or not).</summary>
    public int CachedBlocks => _entries.Count;
    /// <summary>Cached blocks no sequence holds: free for the pool's purposes, reclaimed on demand.</summary>
    public int UnheldBlocks => _unheld.Count;
    /// <summary>How many sequences hold a cached block (0 if it is not cached).</summary>
    public int HoldersOf(int block) => _entries.TryGetValue(block, out var entry) ? entry.Holders : 0;

    /// <summary>Gives an empty sequence the cached blocks of the longest cached chain of its first
    /// <paramref name="maxBlocks"/> full blocks of <paramref name="tokens"/>, marks them written, and returns their tokens.</summary>
    public int Attach(SequenceKv sequence, IReadOnlyList<int> tokens, int maxBlocks)
    {
        if (sequence.Blocks.Count != 0) throw new InvalidOperationException("prefix blocks go to a sequence that holds none");
        var parent = _seed;
        for (int i = 0; i < maxBlocks; i++)
        {
            parent = Hash(parent, tokens, i * _cache.BlockSize);
            if (!_blockOf.TryGetValue(parent, out var block)) break;
            Hold(block);
            sequence.Blocks.Add(block);
        }
        sequence.Length = sequence.Blocks.Count * _cache.BlockSize;
        return sequence.Length;
    }

    /// <summary>Caches the sequence's blocks that are full of written K/V and not cached yet; the sequence holds them.
    /// A block whose hash another block already has stays the sequence's own (freed with it).</summary>
    public void Register(SequenceKv sequence, IReadOnlyList<int> tokens)
    {
        var parent = _seed;
        for (int i = 0; i < sequence.Length / _cache.BlockSize; i++)
        {
            parent = Hash(parent, tokens, i * _cache.BlockSize);
            int block = sequence.Blocks[i];
            if (_entries.ContainsKey(block) || !_blockOf.TryAdd(parent, block)) continue;
            _entries[block] = new Entry(parent) { Holders = 1 };
        }
    }

    /// <summary>Takes the cached blocks out of the sequence's block list, giving up its hold on each (a block nobody
    /// holds stays cached), so that releasing the sequence frees only its own blocks. Blocks are let go last first, so
    /// eviction takes a chain's tail before its head (the head is what more prompts share, as in vLLM).</summary>
    public void Detach(SequenceKv sequence)
    {
        for (int i = sequence.Blocks.Count - 1; i >= 0; i--)
        {
            if (!_entries.TryGetValue(sequence.Blocks[i], out var entry)) continue;
            if (--entry.Holders == 0) entry.Unheld = _unheld.AddLast(sequence.Blocks[i]);
        }
        sequence.Blocks.RemoveAll(_entries.ContainsKey);
    }

    /// <summary>Returns up to <paramref name="count"/> unheld cached blocks to the pool, least recently released first;
    /// true when that many were there.</summary>
    public bool Evict(int count)
    {
        var freed = new List<int>();
        while (freed.Count < count && _unheld.First is { } oldest)
        {
            _unheld.RemoveFirst();
            _blockOf.Remove(_entries[oldest.Value].Hash);
            _entries.Remove(oldest.Value);
            freed.Add(oldest.Value);
        }
        _cache.ReturnBlocks(freed);
        return freed.Count == count;
    }

    /// <summary>Throws if the block the sequence writes next is cached: only full blocks are shared, so it never is.</summary>
    public void CheckWritable(SequenceKv sequence)
    {
        int next = sequence.Length / _cache.BlockSize;
        if (next < sequence.Blocks.Count && _entries.ContainsKey(sequence.Blocks[next]))
            throw new InvalidOperationException($"position {sequence.Length} would be written into cached block {sequence.Blocks[next]}");
    }

    private void Hold(int block)
    {
        var entry = _entries[block];
        if (entry.Unheld is { } node) _unheld.Remove(node);
        entry.Unheld = null;
        entry.Holders++;
    }

    /// <summary>The chain hash of the block of tokens starting at <paramref name="start"/> (128 bits of SHA-256, as
    /// vLLM's default: a collision is not a practical concern).</summary>
    private UInt128 Hash(UInt128 parent, IReadOnlyList<int> tokens, int start)
    {
        Span<byte> data = stackalloc byte[16 + 4 * _cache.BlockSize];
        BinaryPrimitives.WriteUInt128LittleEndian(data, parent);
        for (int i = 0; i < _cache.BlockSize; i++) BinaryPrimitives.WriteInt32LittleEndian(data[(16 + 4 * i)..], tokens[start + i]);
        Span<byte> digest = stackalloc byte[32];
        SHA256.HashData(data, digest);
        return BinaryPrimitives.ReadUInt128LittleEndian(digest);
    }
}
