namespace AlisaCluster.GpuWorker.Tokenization;

/// <summary>GPT-2's reversible map between bytes and printable characters: printable Latin-1 bytes map to
/// themselves, the other 68 bytes to U+0100 onwards, so every byte string is a string of visible symbols.</summary>
public static class ByteLevelAlphabet
{
    private static readonly char[] ByteToChar = BuildMap();
    private static readonly Dictionary<char, byte> CharToByte = ByteToChar.Select((c, b) => (c, b)).ToDictionary(p => p.c, p => (byte)p.b);

    private static char[] BuildMap()
    {
        var map = new char[256];
        int next = 256;
        for (int b = 0; b < 256; b++)
        {
            bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            map[b] = printable ? (char)b : (char)next++;
        }
        return map;
    }

    public static IEnumerable<char> Encode(byte[] bytes) => bytes.Select(b => ByteToChar[b]);

    public static IEnumerable<byte> Decode(string symbols) => symbols.Select(c =>
        CharToByte.TryGetValue(c, out var b) ? b : throw new InvalidDataException($"'{c}' is not a byte-level symbol"));
}
