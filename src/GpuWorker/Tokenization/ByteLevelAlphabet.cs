using System.Buffers;
using System.Text;

namespace AlisaCluster.GpuWorker.Tokenization;

/// <summary>The fixed parts of GPT-2's byte-level scheme: the reversible map between bytes and printable characters
/// (printable Latin-1 bytes stand for themselves, the other 68 bytes for U+0100 onwards, so every byte string is a string
/// of visible symbols), UTF-8 character boundaries in token bytes, and the pre-tokenizer pattern that cuts text into the
/// words BPE merges within.</summary>
internal static class ByteLevelAlphabet
{
    private static readonly char[] SymbolOfByte = BuildSymbols();
    private static readonly Dictionary<char, byte> ByteOfSymbol =
        Enumerable.Range(0, 256).ToDictionary(b => SymbolOfByte[b], b => (byte)b);

    private static char[] BuildSymbols()
    {
        var symbols = new char[256];
        int next = 256;
        for (int b = 0; b < 256; b++)
        {
            bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            symbols[b] = printable ? (char)b : (char)next++;
        }
        return symbols;
    }

    public static char Symbol(byte b) => SymbolOfByte[b];

    public static string ToSymbols(ReadOnlySpan<byte> bytes)
    {
        var symbols = new char[bytes.Length];
        for (int i = 0; i < bytes.Length; i++) symbols[i] = SymbolOfByte[bytes[i]];
        return new string(symbols);
    }

    /// <summary>The bytes a token stands for. As in HF's ByteLevel decoder, a token with any character outside the
    /// alphabet (an added token containing a plain space, say) stands for its own UTF-8 instead.</summary>
    public static byte[] TokenBytes(string token)
    {
        var bytes = new byte[token.Length];
        for (int i = 0; i < token.Length; i++)
        {
            if (!ByteOfSymbol.TryGetValue(token[i], out bytes[i])) return Encoding.UTF8.GetBytes(token);
        }
        return bytes;
    }

    /// <summary>Whether the bytes end in a valid but unfinished UTF-8 sequence, one that later bytes may complete.</summary>
    public static bool EndsInsideCharacter(ReadOnlySpan<byte> bytes)
    {
        // A character takes at most 4 bytes, so only a lead byte among the last 3 can still be waiting for more.
        for (int start = bytes.Length - 1; start >= Math.Max(0, bytes.Length - 3); start--)
            if ((bytes[start] & 0xC0) != 0x80) return Rune.DecodeFromUtf8(bytes[start..], out _, out _) == OperationStatus.NeedMoreData;
        return false;
    }

    private enum CharClass { Letter, Number, Whitespace, Other }

    /// <summary>Cuts text into words the way GPT-2's pattern
    /// <c>'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+</c> does under HF's regex engine.
    /// It is scanned by hand over Unicode scalar values because .NET's Regex classifies UTF-16 code units, so \p{L} and
    /// \p{N} would miss letters and digits outside the Basic Multilingual Plane (e.g. U+1D400) and split words HF keeps.</summary>
    public static IEnumerable<string> SplitWords(string text)
    {
        for (int start = 0; start < text.Length;)
        {
            int end = WordEnd(text, start);
            yield return text[start..end];
            start = end;
        }
    }

    private static readonly string[] Contractions = ["s", "t", "re", "ve", "m", "ll", "d"];

    private static int WordEnd(string text, int start)
    {
        if (text[start] == '\'')
        {
            foreach (var contraction in Contractions)
                if (string.CompareOrdinal(text, start + 1, contraction, 0, contraction.Length) == 0)
                    return start + 1 + contraction.Length;
        }
        // " ?\p{L}+", " ?\p{N}+" and " ?[^\s\p{L}\p{N}]+": one plain space joins the run of letters, digits or other
        // characters that follows it.
        if (text[start] == ' ' && start + 1 < text.Length && Classify(text, start + 1, out _) is var next && next != CharClass.Whitespace)
            return RunEnd(text, start + 1, next);
        var first = Classify(text, start, out _);
        if (first != CharClass.Whitespace) return RunEnd(text, start, first);
        // "\s+(?!\S)|\s+": a run of whitespace before a word leaves its last character (always one UTF-16 unit) to the
        // word, unless that character is the whole run.
        int end = RunEnd(text, start, CharClass.Whitespace);
        return end == text.Length || end - start == 1 ? end : end - 1;
    }

    private static int RunEnd(string text, int position, CharClass runClass)
    {
        while (position < text.Length && Classify(text, position, out int width) == runClass) position += width;
        return position;
    }

    private static CharClass Classify(string text, int position, out int width)
    {
        // A lone surrogate decodes as U+FFFD (a symbol), as its UTF-8 encoding will.
        Rune.DecodeFromUtf16(text.AsSpan(position), out var rune, out width);
        if (Rune.IsLetter(rune)) return CharClass.Letter;
        if (Rune.IsNumber(rune)) return CharClass.Number;
        return Rune.IsWhiteSpace(rune) ? CharClass.Whitespace : CharClass.Other;
    }
}
