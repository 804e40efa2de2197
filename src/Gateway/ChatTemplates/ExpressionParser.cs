using System.Globalization;

namespace AlisaCluster.Gateway.ChatTemplates;

/// <summary>Parses one tag's tokens with Jinja's precedence: conditional, or, and, not, comparisons (== != &lt; &gt; in,
/// not in), + -, ~, * / // %, unary -, then primaries with .attr, [index], [slice], calls, |filters and "is" tests.
/// Filters and tests outside the supported set are refused here, when the template is loaded.</summary>
public sealed class ExpressionParser(List<Token> tokens)
{
    private static readonly string[] Comparisons = ["==", "!=", "<", ">", "<=", ">="];
    private int _at;

    public Token Previous { get; private set; }

    public Token Peek => tokens[_at];

    public Token Next()
    {
        Previous = tokens[_at];
        if (_at < tokens.Count - 1) _at++;
        return Previous;
    }

    public bool Accept(string symbol)
    {
        if (!Peek.Is(symbol) || Peek.Kind == TokenKind.String) return false;
        Next();
        return true;
    }

    public string ExpectName()
    {
        var token = Next();
        return token.Kind == TokenKind.Name ? token.Text : throw Unexpected(token, "a name");
    }

    public void ExpectEnd()
    {
        if (Peek.Kind != TokenKind.End) throw Unexpected(Peek, "the end of the tag");
    }

    private void Expect(string symbol)
    {
        if (!Accept(symbol)) throw Unexpected(Peek, $"'{symbol}'");
    }

    private static ChatTemplateException Unexpected(Token token, string expected) =>
        new($"expected {expected} at offset {token.Position}, found '{token.Text}'");

    public Expr ParseExpression(bool allowConditional = true)
    {
        var value = ParseOr();
        if (!allowConditional || !Accept("if")) return value;
        var condition = ParseOr();
        return new ConditionalExpr(condition, value, Accept("else") ? ParseExpression() : null);
    }

    private Expr ParseOr()
    {
        var left = ParseAnd();
        while (Accept("or")) left = new BinaryExpr("or", left, ParseAnd());
        return left;
    }

    private Expr ParseAnd()
    {
        var left = ParseNot();
        while (Accept("and")) left = new BinaryExpr("and", left, ParseNot());
        return left;
    }

    private Expr ParseNot() => Accept("not") ? new UnaryExpr("not", ParseNot()) : ParseCompare();

    private Expr ParseCompare()
    {
        var left = ParseMath1();
        while (true)
        {
            if (Peek.Kind == TokenKind.Symbol && Comparisons.Contains(Peek.Text)) left = new BinaryExpr(Next().Text, left, ParseMath1());
            else if (Accept("in")) left = new BinaryExpr("in", left, ParseMath1());
            else if (Peek.Is("not") && tokens[_at + 1].Is("in")) { Next(); Next(); left = new UnaryExpr("not", new BinaryExpr("in", left, ParseMath1())); }
            else return left;
        }
    }

    private Expr ParseMath1()
    {
        var left = ParseConcat();
        while (Peek.Kind == TokenKind.Symbol && Peek.Text is "+" or "-") left = new BinaryExpr(Next().Text, left, ParseConcat());
        return left;
    }

    private Expr ParseConcat()
    {
        var left = ParseMath2();
        while (Accept("~")) left = new BinaryExpr("~", left, ParseMath2());
        return left;
    }

    private Expr ParseMath2()
    {
        var left = ParseUnary();
        while (Peek.Kind == TokenKind.Symbol && Peek.Text is "*" or "/" or "//" or "%") left = new BinaryExpr(Next().Text, left, ParseUnary());
        return left;
    }

    private Expr ParseUnary(bool withFilters = true)
    {
        var value = Peek.Kind == TokenKind.Symbol && Peek.Text is "-" or "+"
            ? new UnaryExpr(Next().Text, ParseUnary(withFilters: false))
            : ParsePostfix(ParsePrimary());
        return withFilters ? ParseFilters(value) : value;
    }

    private Expr ParsePrimary()
    {
        var token = Next();
        switch (token.Kind)
        {
            case TokenKind.String:
                var text = token.Text;
                while (Peek.Kind == TokenKind.String) text += Next().Text; // adjacent literals concatenate
                return new LiteralExpr(text);
            case TokenKind.Integer: return new LiteralExpr(long.Parse(token.Text, CultureInfo.InvariantCulture));
            case TokenKind.Float: return new LiteralExpr(double.Parse(token.Text, CultureInfo.InvariantCulture));
            case TokenKind.Name:
                return token.Text switch
                {
                    "true" or "True" => new LiteralExpr(true),
                    "false" or "False" => new LiteralExpr(false),
                    "none" or "None" => new LiteralExpr(null),
                    _ => new NameExpr(token.Text),
                };
        }
        if (token.Is("("))
        {
            var inner = ParseExpression();
            if (Peek.Is(",")) throw new ChatTemplateException($"tuples are not supported (offset {token.Position})");
            Expect(")");
            return inner;
        }
        if (token.Is("["))
        {
            var items = new List<Expr>();
            while (!Accept("]")) { items.Add(ParseExpression()); if (!Peek.Is("]")) Expect(","); }
            return new ListExpr(items);
        }
        if (token.Is("{"))
        {
            var items = new List<(Expr, Expr)>();
            while (!Accept("}")) { var key = ParseExpression(); Expect(":"); items.Add((key, ParseExpression())); if (!Peek.Is("}")) Expect(","); }
            return new DictExpr(items);
        }
        throw Unexpected(token, "a value");
    }

    private Expr ParsePostfix(Expr target)
    {
        while (true)
        {
            if (Accept("."))
            {
                var name = Next();
                target = name.Kind switch
                {
                    TokenKind.Name => new AttributeExpr(target, name.Text),
                    TokenKind.Integer => new IndexExpr(target, new LiteralExpr(long.Parse(name.Text, CultureInfo.InvariantCulture))),
                    _ => throw Unexpected(name, "an attribute name"),
                };
            }
            else if (Accept("[")) target = ParseSubscript(target);
            else if (Accept("(")) target = ParseCall(target);
            else return target;
        }
    }

    private Expr ParseSubscript(Expr target)
    {
        Expr? start = Peek.Is(":") ? null : ParseExpression();
        if (Accept("]")) return new IndexExpr(target, start!);
        Expect(":");
        Expr? stop = Peek.Is(":") || Peek.Is("]") ? null : ParseExpression();
        Expr? step = Accept(":") && !Peek.Is("]") ? ParseExpression() : null;
        Expect("]");
        return new SliceExpr(target, start, stop, step);
    }

    private CallExpr ParseCall(Expr target)
    {
        var (args, kwargs) = ParseArguments();
        return new CallExpr(target, args, kwargs);
    }

    /// <summary>Arguments after an opening parenthesis, through the closing one.</summary>
    private (List<Expr>, List<(string, Expr)>) ParseArguments()
    {
        var args = new List<Expr>();
        var kwargs = new List<(string, Expr)>();
        while (!Accept(")"))
        {
            if (Peek.Kind == TokenKind.Name && tokens[_at + 1].Is("=")) { var name = Next().Text; Next(); kwargs.Add((name, ParseExpression())); }
            else args.Add(ParseExpression());
            if (!Peek.Is(")")) Expect(",");
        }
        return (args, kwargs);
    }

    private Expr ParseFilters(Expr target)
    {
        while (true)
        {
            if (Accept("|"))
            {
                var name = ExpectName();
                if (!TemplateFilters.IsFilter(name)) throw new ChatTemplateException($"the '{name}' filter is not supported ({string.Join(", ", TemplateFilters.Filters)})");
                var (args, kwargs) = Accept("(") ? ParseArguments() : ([], []);
                target = new FilterExpr(target, name, args, kwargs);
            }
            else if (Accept("is"))
            {
                bool negated = Accept("not");
                var name = ExpectName();
                if (!TemplateFilters.IsTest(name)) throw new ChatTemplateException($"the '{name}' test is not supported ({string.Join(", ", TemplateFilters.Tests)})");
                var args = Accept("(") ? ParseArguments().Item1 : [];
                target = new TestExpr(target, name, negated, args);
            }
            else if (Accept("(")) target = ParseCall(target);
            else return target;
        }
    }
}
