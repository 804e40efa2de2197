using System.Reflection;
using System.Text.Unicode;
using Google.Protobuf;
using Google.Protobuf.Reflection;
using Grpc.Core;

namespace AlisaCluster.Gateway.Grpc;

/// <summary>Binds the generated methods with a request deserializer that turns a malformed request (e.g. a string field
/// that is not UTF-8) into INVALID_ARGUMENT naming the field; gRPC would report the parser's exception as UNKNOWN,
/// and it happens before any interceptor or handler runs.</summary>
public sealed class StrictRequestBinder(ServiceBinderBase inner) : ServiceBinderBase
{
    public override void AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method, UnaryServerMethod<TRequest, TResponse>? handler) =>
        inner.AddMethod(Strict(method), handler);

    public override void AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method, ServerStreamingServerMethod<TRequest, TResponse>? handler) =>
        inner.AddMethod(Strict(method), handler);

    public override void AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method, ClientStreamingServerMethod<TRequest, TResponse>? handler) =>
        inner.AddMethod(Strict(method), handler);

    public override void AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method, DuplexStreamingServerMethod<TRequest, TResponse>? handler) =>
        inner.AddMethod(Strict(method), handler);

    private static Method<TRequest, TResponse> Strict<TRequest, TResponse>(Method<TRequest, TResponse> method)
    {
        var descriptor = typeof(TRequest).GetProperty("Descriptor", BindingFlags.Public | BindingFlags.Static)?.GetValue(null) as MessageDescriptor;
        var parse = method.RequestMarshaller.ContextualDeserializer;
        var marshaller = Marshallers.Create(method.RequestMarshaller.ContextualSerializer, context =>
        {
            try { return parse(context); }
            catch (InvalidProtocolBufferException e)
            {
                var field = descriptor is null ? null : NonUtf8Field(context.PayloadAsNewBuffer(), descriptor, "");
                throw GenerateRequestValidator.Invalid(field ?? "request", field is null ? $"malformed request: {e.Message}" : "must be valid UTF-8");
            }
        });
        return new Method<TRequest, TResponse>(method.Type, method.ServiceName, method.Name, marshaller, method.ResponseMarshaller);
    }

    /// <summary>The path of the first string field (nested messages included) whose bytes are not UTF-8.</summary>
    private static string? NonUtf8Field(byte[] bytes, MessageDescriptor descriptor, string prefix)
    {
        try
        {
            var input = new CodedInputStream(bytes);
            for (uint tag; (tag = input.ReadTag()) != 0;)
            {
                var field = descriptor.FindFieldByNumber(WireFormat.GetTagFieldNumber(tag));
                if (field is null || WireFormat.GetTagWireType(tag) != WireFormat.WireType.LengthDelimited
                    || field.FieldType is not (FieldType.String or FieldType.Message)) { input.SkipLastField(); continue; }
                var value = input.ReadBytes().ToByteArray();
                var bad = field.FieldType == FieldType.Message ? NonUtf8Field(value, field.MessageType, prefix + field.Name + ".")
                    : Utf8.IsValid(value) ? null : prefix + field.Name;
                if (bad is not null) return bad;
            }
        }
        catch (InvalidProtocolBufferException) { }
        return null;
    }
}
