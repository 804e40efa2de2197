namespace AlisaCluster.Gateway.ChatTemplates;

/// <summary>Parses the statement structure (if/elif/else, for/else, set) of a lexed template; expressions are parsed by
/// <see cref="ExpressionParser"/>. Any other tag is refused with its name.</summary>
public static class TemplateParser
{
    public static List<Node> Parse(string source)
    {
        var pieces = TemplateLexer.Split(source);
        int at = 0;
        var body = ParseBody(pieces, ref at, [], out var end);
        if (end is not null) throw new ChatTemplateException($"unexpected '{{% {end} %}}'");
        return body;
    }

    /// <summary>Nodes up to one of <paramref name="terminators"/> (returned in <paramref name="ended"/> with its parser
    /// positioned after the keyword) or the end of the template (ended = null).</summary>
    private static List<Node> ParseBody(List<Piece> pieces, ref int at, string[] terminators, out ExpressionParser? ended)
    {
        var nodes = new List<Node>();
        while (at < pieces.Count)
        {
            var piece = pieces[at++];
            if (piece is TextPiece text) { nodes.Add(new TextNode(text.Text)); continue; }
            var tag = (TagPiece)piece;
            var parser = new ExpressionParser(tag.Tokens);
            if (tag.IsOutput)
            {
                nodes.Add(new OutputNode(parser.ParseExpression()));
                parser.ExpectEnd();
                continue;
            }
            var keyword = parser.Next();
            if (keyword.Kind != TokenKind.Name) throw new ChatTemplateException($"expected a statement at offset {tag.Position}");
            if (terminators.Contains(keyword.Text)) { ended = parser; return nodes; }
            nodes.Add(keyword.Text switch
            {
                "if" => ParseIf(pieces, ref at, parser),
                "for" => ParseFor(pieces, ref at, parser),
                "set" => ParseSet(parser),
                "elif" or "else" or "endif" or "endfor" => throw new ChatTemplateException($"'{{% {keyword.Text} %}}' at offset {tag.Position} has no matching opening tag"),
                _ => throw new ChatTemplateException($"the '{{% {keyword.Text} %}}' statement is not supported by this gateway's Jinja subset (if, for, set)"),
            });
        }
        ended = null;
        if (terminators.Length > 0) throw new ChatTemplateException($"missing '{{% {terminators[^1]} %}}'");
        return nodes;
    }

    private static IfNode ParseIf(List<Piece> pieces, ref int at, ExpressionParser parser)
    {
        var branches = new List<(Expr, List<Node>)>();
        var condition = parser.ParseExpression();
        parser.ExpectEnd();
        while (true)
        {
            var body = ParseBody(pieces, ref at, ["elif", "else", "endif"], out var ended);
            branches.Add((condition, body));
            var keyword = ended!.Previous.Text;
            if (keyword == "endif") { ended.ExpectEnd(); return new IfNode(branches, []); }
            if (keyword == "else")
            {
                ended.ExpectEnd();
                var otherwise = ParseBody(pieces, ref at, ["endif"], out var endif);
                endif!.ExpectEnd();
                return new IfNode(branches, otherwise);
            }
            condition = ended.ParseExpression();
            ended.ExpectEnd();
        }
    }

    private static ForNode ParseFor(List<Piece> pieces, ref int at, ExpressionParser parser)
    {
        var targets = new List<string> { parser.ExpectName() };
        while (parser.Accept(",")) targets.Add(parser.ExpectName());
        if (!parser.Next().Is("in")) throw new ChatTemplateException("expected 'in' in a for statement");
        var iterable = parser.ParseExpression(allowConditional: false);
        Expr? filter = parser.Accept("if") ? parser.ParseExpression(allowConditional: false) : null;
        if (parser.Accept("recursive")) throw new ChatTemplateException("recursive for loops are not supported");
        parser.ExpectEnd();
        var body = ParseBody(pieces, ref at, ["else", "endfor"], out var ended);
        ended!.ExpectEnd();
        if (ended.Previous.Text == "endfor") return new ForNode(targets, iterable, filter, body, []);
        var otherwise = ParseBody(pieces, ref at, ["endfor"], out var endfor);
        endfor!.ExpectEnd();
        return new ForNode(targets, iterable, filter, body, otherwise);
    }

    private static SetNode ParseSet(ExpressionParser parser)
    {
        var name = parser.ExpectName();
        string? attribute = parser.Accept(".") ? parser.ExpectName() : null;
        if (!parser.Accept("=")) throw new ChatTemplateException($"block assignments ('{{% set {name} %}}...{{% endset %}}') are not supported");
        var value = parser.ParseExpression();
        parser.ExpectEnd();
        return new SetNode(name, attribute, value);
    }
}
