namespace AlisaCluster.Gateway.ChatTemplates;

// Statements of the supported Jinja subset.
public abstract record Node;
public sealed record TextNode(string Text) : Node;
public sealed record OutputNode(Expr Value) : Node;
public sealed record IfNode(List<(Expr Condition, List<Node> Body)> Branches, List<Node> Else) : Node;
public sealed record ForNode(List<string> Targets, Expr Iterable, Expr? Filter, List<Node> Body, List<Node> Else) : Node;
/// <summary>{% set name = value %} or {% set namespace.attribute = value %}.</summary>
public sealed record SetNode(string Name, string? Attribute, Expr Value) : Node;

// Expressions.
public abstract record Expr;
public sealed record LiteralExpr(object? Value) : Expr;
public sealed record NameExpr(string Name) : Expr;
public sealed record ListExpr(List<Expr> Items) : Expr;
public sealed record DictExpr(List<(Expr Key, Expr Value)> Items) : Expr;
public sealed record AttributeExpr(Expr Target, string Name) : Expr;
public sealed record IndexExpr(Expr Target, Expr Index) : Expr;
public sealed record SliceExpr(Expr Target, Expr? Start, Expr? Stop, Expr? Step) : Expr;
public sealed record CallExpr(Expr Target, List<Expr> Args, List<(string Name, Expr Value)> Kwargs) : Expr;
public sealed record FilterExpr(Expr Target, string Name, List<Expr> Args, List<(string Name, Expr Value)> Kwargs) : Expr;
public sealed record TestExpr(Expr Target, string Name, bool Negated, List<Expr> Args) : Expr;
public sealed record UnaryExpr(string Operator, Expr Operand) : Expr;
public sealed record BinaryExpr(string Operator, Expr Left, Expr Right) : Expr;
public sealed record ConditionalExpr(Expr Condition, Expr Then, Expr? Else) : Expr;

/// <summary>A template that cannot be parsed or rendered (an unsupported construct, a type error), or one that called
/// raise_exception (<see cref="Raised"/>: the messages broke the template's rules).</summary>
public sealed class ChatTemplateException(string message, bool raised = false) : Exception(message)
{
    public bool Raised { get; } = raised;
}
