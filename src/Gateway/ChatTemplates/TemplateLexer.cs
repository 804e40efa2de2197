using System.Text;

namespace AlisaCluster.Gateway.ChatTemplates;

public enum TokenKind { Name, String, Integer, Float, Symbol, End }

public readonly record struct Token(TokenKind Kind, string Text, int Position)
{
    public bool Is(string symbol) => Kind is TokenKind.Symbol or TokenKind.Name && Text == symbol;
}

/// <summary>A piece of template source: literal text, a {{ output }} or a {% statement %} with its tokens.</summary>
public abstract record Piece(int Position);
public sealed record TextPiece(string Text, int Position) : Piece(Position);
public sealed record TagPiece(bool IsOutput, List<Token> Tokens, int Position) : Piece(Position);

/// <summary>Splits a Jinja template into pieces with Hugging Face's chat-template whitespace rules: trim_blocks (the
/// newline after a block tag goes), lstrip_blocks (spaces and tabs before a block tag on its line go), and the "-"
/// markers ({%- -%} {{- -}} {#- -#}) that strip all whitespace on their side.</summary>
public static class TemplateLexer
{
    private static readonly string[] Symbols = ["**", "//", "==", "!=", "<=", ">=", "+", "-", "*", "/", "%", "~", "<", ">", "=", "(", ")", "[", "]", "{", "}", ",", ".", ":", "|"];

    public static List<Piece> Split(string source)
    {
        var pieces = new List<Piece>();
        var text = new StringBuilder();
        int textStart = 0, i = 0;
        while (i < source.Length)
        {
            int open = NextOpen(source, i);
            if (open < 0) { text.Append(source, i, source.Length - i); break; }
            text.Append(source, i, open - i);
            char kind = source[open + 1];
            int inner = open + 2;
            bool trimLeft = inner < source.Length && source[inner] == '-';
            bool keepLeft = inner < source.Length && source[inner] == '+';
            if (trimLeft || keepLeft) inner++;
            bool isBlock = kind != '{';
            if (trimLeft) TrimEnd(text);
            else if (isBlock && !keepLeft) StripLineStart(text, source, open, textStart);
            if (text.Length > 0) pieces.Add(new TextPiece(text.ToString(), textStart));
            text.Clear();

            int end;
            bool trimRight;
            if (kind == '#')
            {
                int close = source.IndexOf("#}", inner, StringComparison.Ordinal);
                if (close < 0) throw new ChatTemplateException($"unclosed comment at offset {open}");
                trimRight = source[close - 1] == '-';
                end = close + 2;
            }
            else
            {
                var tokens = Tokenize(source, inner, kind == '{' ? "}}" : "%}", out end, out trimRight);
                pieces.Add(new TagPiece(kind == '{', tokens, open));
            }
            if (trimRight) while (end < source.Length && char.IsWhiteSpace(source[end])) end++;
            else if (isBlock && end < source.Length && source[end] == '\n') end++;
            else if (isBlock && end + 1 < source.Length && source[end] == '\r' && source[end + 1] == '\n') end += 2;
            i = textStart = end;
        }
        if (text.Length > 0) pieces.Add(new TextPiece(text.ToString(), textStart));
        return pieces;
    }

    private static int NextOpen(string source, int from)
    {
        for (int i = source.IndexOf('{', from); i >= 0 && i + 1 < source.Length; i = source.IndexOf('{', i + 1))
            if (source[i + 1] is '{' or '%' or '#') return i;
        return -1;
    }

    private static void TrimEnd(StringBuilder text)
    {
        int n = text.Length;
        while (n > 0 && char.IsWhiteSpace(text[n - 1])) n--;
        text.Length = n;
    }

    /// <summary>lstrip_blocks: drops the spaces and tabs between the start of the tag's line and the tag.</summary>
    private static void StripLineStart(StringBuilder text, string source, int tag, int textStart)
    {
        int k = 0;
        while (k < text.Length && tag - k - 1 >= textStart && source[tag - k - 1] is ' ' or '\t') k++;
        int before = tag - k - 1;
        if (k > 0 && (before < 0 || source[before] == '\n')) text.Length -= k;
    }

    private static List<Token> Tokenize(string source, int i, string close, out int end, out bool trimRight)
    {
        var tokens = new List<Token>();
        while (true)
        {
            while (i < source.Length && char.IsWhiteSpace(source[i])) i++;
            if (i >= source.Length) throw new ChatTemplateException($"unclosed tag: expected '{close}'");
            if (string.CompareOrdinal(source, i, close, 0, 2) == 0) { trimRight = false; end = i + 2; break; }
            if (source[i] == '-' && string.CompareOrdinal(source, i + 1, close, 0, 2) == 0) { trimRight = true; end = i + 3; break; }
            char c = source[i];
            if (c is '\'' or '"') tokens.Add(new Token(TokenKind.String, ReadString(source, ref i), i));
            else if (char.IsDigit(c))
            {
                int start = i;
                while (i < source.Length && (char.IsDigit(source[i]) || source[i] == '_')) i++;
                bool isFloat = i + 1 < source.Length && source[i] == '.' && char.IsDigit(source[i + 1]);
                if (isFloat) { i++; while (i < source.Length && char.IsDigit(source[i])) i++; }
                tokens.Add(new Token(isFloat ? TokenKind.Float : TokenKind.Integer, source[start..i].Replace("_", ""), start));
            }
            else if (char.IsLetter(c) || c == '_')
            {
                int start = i;
                while (i < source.Length && (char.IsLetterOrDigit(source[i]) || source[i] == '_')) i++;
                tokens.Add(new Token(TokenKind.Name, source[start..i], start));
            }
            else
            {
                var symbol = Symbols.FirstOrDefault(s => string.CompareOrdinal(source, i, s, 0, s.Length) == 0)
                    ?? throw new ChatTemplateException($"unexpected character '{c}' at offset {i}");
                tokens.Add(new Token(TokenKind.Symbol, symbol, i));
                i += symbol.Length;
            }
        }
        tokens.Add(new Token(TokenKind.End, close, end));
        return tokens;
    }

    /// <summary>A quoted string with Python's common escapes.</summary>
    private static string ReadString(string source, ref int i)
    {
        char quote = source[i++];
        var value = new StringBuilder();
        while (i < source.Length && source[i] != quote)
        {
            char c = source[i++];
            if (c != '\\' || i >= source.Length) { value.Append(c); continue; }
            char e = source[i++];
            value.Append(e switch
            {
                'n' => "\n", 't' => "\t", 'r' => "\r", '\\' => "\\", '\'' => "'", '"' => "\"", '0' => "\0",
                'u' when i + 4 <= source.Length => ((char)Convert.ToInt32(source.Substring((i += 4) - 4, 4), 16)).ToString(),
                _ => "\\" + e,
            });
        }
        if (i >= source.Length) throw new ChatTemplateException("unterminated string literal");
        i++;
        return value.ToString();
    }
}
