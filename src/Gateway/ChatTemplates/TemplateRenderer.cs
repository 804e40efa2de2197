using System.Text;
using static AlisaCluster.Gateway.ChatTemplates.TemplateValues;

namespace AlisaCluster.Gateway.ChatTemplates;

/// <summary>Renders parsed nodes. Scopes follow Jinja: a for loop's body has its own (a set inside it does not leak out;
/// a <see cref="Namespace"/> carries state out), if blocks do not. Globals: the caller's variables plus
/// raise_exception(message), namespace(...) and range(...).</summary>
public sealed class TemplateRenderer
{
    private readonly List<Dictionary<string, object?>> _scopes;
    private readonly StringBuilder _output = new();

    private TemplateRenderer(IReadOnlyDictionary<string, object?> variables) => _scopes = [new(variables)];

    public static string Render(List<Node> nodes, IReadOnlyDictionary<string, object?> variables)
    {
        var renderer = new TemplateRenderer(variables);
        renderer.Run(nodes);
        return renderer._output.ToString();
    }

    private void Run(List<Node> nodes)
    {
        foreach (var node in nodes)
        {
            switch (node)
            {
                case TextNode text: _output.Append(text.Text); break;
                case OutputNode output: _output.Append(Str(Eval(output.Value))); break;
                case IfNode branch:
                    var taken = branch.Branches.FirstOrDefault(b => Truthy(Eval(b.Condition)));
                    Run(taken.Body ?? branch.Else);
                    break;
                case ForNode loop: RunFor(loop); break;
                case SetNode set: Assign(set); break;
            }
        }
    }

    private void RunFor(ForNode loop)
    {
        var items = Iterate(Eval(loop.Iterable)).ToList();
        if (loop.Filter is not null)
            items = items.Where(item => { using var _ = Push(); Bind(loop.Targets, item); return Truthy(Eval(loop.Filter)); }).ToList();
        if (items.Count == 0) { Run(loop.Else); return; }
        for (int i = 0; i < items.Count; i++)
        {
            using var scope = Push();
            Bind(loop.Targets, items[i]);
            _scopes[^1]["loop"] = new Dictionary<string, object?>
            {
                ["index0"] = (long)i, ["index"] = (long)i + 1, ["revindex0"] = (long)(items.Count - 1 - i), ["revindex"] = (long)(items.Count - i),
                ["first"] = i == 0, ["last"] = i == items.Count - 1, ["length"] = (long)items.Count,
                ["previtem"] = i > 0 ? items[i - 1] : new Undefined("loop.previtem"),
                ["nextitem"] = i < items.Count - 1 ? items[i + 1] : new Undefined("loop.nextitem"),
            };
            Run(loop.Body);
        }
    }

    private void Bind(List<string> targets, object? item)
    {
        if (targets.Count == 1) { _scopes[^1][targets[0]] = item; return; }
        var parts = ToList(item);
        if (parts.Count != targets.Count) throw new ChatTemplateException($"cannot unpack {parts.Count} values into {targets.Count} loop variables");
        for (int i = 0; i < targets.Count; i++) _scopes[^1][targets[i]] = parts[i];
    }

    private void Assign(SetNode set)
    {
        var value = Eval(set.Value);
        if (set.Attribute is null) { _scopes[^1][set.Name] = value; return; }
        if (Lookup(set.Name) is not Namespace ns) throw new ChatTemplateException($"cannot set '{set.Name}.{set.Attribute}': '{set.Name}' is not a namespace()");
        ns[set.Attribute] = value;
    }

    private object? Lookup(string name)
    {
        for (int i = _scopes.Count - 1; i >= 0; i--)
            if (_scopes[i].TryGetValue(name, out var value)) return value;
        return new Undefined(name);
    }

    private ScopeExit Push()
    {
        _scopes.Add([]);
        return new ScopeExit(_scopes);
    }

    private readonly struct ScopeExit(List<Dictionary<string, object?>> scopes) : IDisposable
    {
        public void Dispose() => scopes.RemoveAt(scopes.Count - 1);
    }

    private object? Eval(Expr expr) => expr switch
    {
        LiteralExpr literal => literal.Value,
        NameExpr name => Lookup(name.Name),
        ListExpr list => list.Items.Select(Eval).ToList(),
        DictExpr dict => dict.Items.ToDictionary(p => Eval(p.Key) as string ?? throw new ChatTemplateException("dict keys must be strings"), p => Eval(p.Value)),
        AttributeExpr attribute => Member(Eval(attribute.Target), attribute.Name, attribute),
        IndexExpr index => Item(Eval(index.Target), Eval(index.Index)),
        SliceExpr slice => Slice(Eval(slice.Target), slice),
        CallExpr call => Call(call),
        FilterExpr filter => TemplateFilters.Filter(filter.Name, Eval(filter.Target), filter.Args.Select(Eval).ToList(),
            filter.Kwargs.ToDictionary(k => k.Name, k => Eval(k.Value))),
        TestExpr test => test.Args.Count > 0
            ? throw new ChatTemplateException($"the '{test.Name}' test takes no arguments here")
            : TemplateFilters.Test(test.Name, Eval(test.Target)) != test.Negated,
        UnaryExpr { Operator: "not" } not => !Truthy(Eval(not.Operand)),
        UnaryExpr unary => Eval(unary.Operand) switch
        {
            long l => (object)(unary.Operator == "-" ? -l : l), // object: a long arm must not widen to double
            double d => unary.Operator == "-" ? -d : d,
            var v => throw new ChatTemplateException($"unary '{unary.Operator}' needs a number, got {TypeName(v)}"),
        },
        BinaryExpr { Operator: "and" } and => Eval(and.Left) is var left && !Truthy(left) ? left : Eval(and.Right),
        BinaryExpr { Operator: "or" } or => Eval(or.Left) is var left && Truthy(left) ? left : Eval(or.Right),
        BinaryExpr binary => TemplateOperators.Apply(binary.Operator, Eval(binary.Left), Eval(binary.Right)),
        ConditionalExpr conditional => Truthy(Eval(conditional.Condition)) ? Eval(conditional.Then)
            : conditional.Else is null ? new Undefined("else") : Eval(conditional.Else),
        _ => throw new ChatTemplateException($"unsupported expression {expr.GetType().Name}"),
    };

    /// <summary>obj.name: a dict's key (Jinja tries the attribute, then the item), else undefined.</summary>
    private static object? Member(object? target, string name, AttributeExpr at) => target switch
    {
        Undefined u => throw new ChatTemplateException($"'{u.Name}' is undefined (reading .{name})"),
        IDictionary<string, object?> dict => dict.TryGetValue(name, out var value) ? value : new Undefined(name),
        _ => new Undefined(name),
    };

    private static object? Item(object? target, object? index) => (target, index) switch
    {
        (Undefined u, _) => throw new ChatTemplateException($"'{u.Name}' is undefined (indexing it)"),
        (List<object?> list, long i) => i < 0 ? (i + list.Count >= 0 ? list[(int)(i + list.Count)] : new Undefined($"[{i}]")) : i < list.Count ? list[(int)i] : new Undefined($"[{i}]"),
        (string s, long i) => i < 0 ? (i + s.Length >= 0 ? s[(int)(i + s.Length)].ToString() : new Undefined($"[{i}]")) : i < s.Length ? s[(int)i].ToString() : new Undefined($"[{i}]"),
        (IDictionary<string, object?> dict, string key) => dict.TryGetValue(key, out var value) ? value : new Undefined(key),
        _ => new Undefined($"[{Repr(index)}]"),
    };

    private object? Slice(object? target, SliceExpr slice)
    {
        long? Bound(Expr? e) => e is null ? null : Eval(e) switch { long l => l, null => null, var v => throw new ChatTemplateException($"slice bounds must be integers, got {TypeName(v)}") };
        var items = target switch
        {
            List<object?> list => list,
            string s => s.Select(c => (object?)c.ToString()).ToList(),
            _ => throw new ChatTemplateException($"cannot slice {TypeName(target)}"),
        };
        var picked = TemplateOperators.SliceIndices(items.Count, Bound(slice.Start), Bound(slice.Stop), Bound(slice.Step)).Select(i => items[i]).ToList();
        return target is string ? string.Concat(picked) : picked;
    }

    private object? Call(CallExpr call)
    {
        var args = call.Args.Select(Eval).ToList();
        if (call.Target is AttributeExpr method) return TemplateFilters.Method(Eval(method.Target), method.Name, args);
        var name = (call.Target as NameExpr)?.Name;
        if (name is not null && Lookup(name) is not Undefined) throw new ChatTemplateException($"'{name}' is not callable");
        switch (name)
        {
            case "raise_exception": throw new ChatTemplateException(args.Count > 0 ? Str(args[0]) : "the chat template raised an exception", raised: true);
            case "namespace":
                var ns = new Namespace();
                foreach (var (key, value) in call.Kwargs) ns[key] = Eval(value);
                return ns;
            case "range":
                var bounds = args.Select(a => a is long l ? l : throw new ChatTemplateException("range() takes integers")).ToList();
                var (start, stop, step) = bounds.Count switch { 1 => (0L, bounds[0], 1L), 2 => (bounds[0], bounds[1], 1L), 3 => (bounds[0], bounds[1], bounds[2]), _ => throw new ChatTemplateException("range() takes 1 to 3 integers") };
                if (step == 0) throw new ChatTemplateException("range() step must not be zero");
                var range = new List<object?>();
                for (long i = start; step > 0 ? i < stop : i > stop; i += step) range.Add(i);
                return range;
            default: throw new ChatTemplateException($"the function '{name ?? "(expression)"}' is not supported (raise_exception, namespace, range)");
        }
    }
}
