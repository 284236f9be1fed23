/**
 * Just enough of the Kubernetes protobuf encoding to tell what a protobuf
 * request body is: the envelope (the magic `k8s\0`, then a
 * `runtime.Unknown` message) and its TypeMeta (apiVersion, kind). The
 * server stores and answers JSON only; this serves the one request whose
 * content it ignores, the SelfSubjectReview, which client-go's typed
 * clients (`kubectl auth whoami`) send as protobuf.
 *
 * Rules (k8s.io/apimachinery/pkg/runtime/serializer/protobuf): the body is
 * the 4-byte magic and a `runtime.Unknown { TypeMeta typeMeta = 1; bytes raw
 * = 2; string contentEncoding = 3; string contentType = 4 }`, TypeMeta being
 * `{ string apiVersion = 1; string kind = 2 }`. A body that is not that is
 * refused (ErrKubeApiStatus 400), as kube-apiserver refuses it.
 */
import { ErrKubeApiStatus } from './errors.ts';

/** The content type of Kubernetes protobuf bodies. */
export const PROTOBUF_CONTENT_TYPE = 'application/vnd.kubernetes.protobuf';

/** The envelope's magic prefix: `k8s\0`. */
const MAGIC = Buffer.from([0x6b, 0x38, 0x73, 0x00]);

function bad(message: string): never {
  throw new ErrKubeApiStatus({ reason: 'BadRequest', code: 400, message });
}

/** The fields of one protobuf message: each length-delimited field by number (the last one wins, as proto3 for scalars). */
function lengthDelimitedFields(buf: Buffer): Map<number, Buffer> {
  const fields = new Map<number, Buffer>();
  let at = 0;
  const varint = (): number => {
    let value = 0;
    for (let shift = 0; shift < 64; shift += 7) {
      if (at >= buf.length) bad('the protobuf body ends inside a varint');
      const byte = buf[at++] as number;
      // Lengths and tags here fit in 53 bits; larger varints are skipped values whose size alone matters.
      if (shift < 53) value += (byte & 0x7f) * 2 ** shift;
      if ((byte & 0x80) === 0) return value;
    }
    return bad('the protobuf body holds a varint longer than 10 bytes');
  };
  const skip = (n: number): void => {
    if (at + n > buf.length) bad('the protobuf body ends inside a field');
    at += n;
  };
  while (at < buf.length) {
    const tag = varint();
    const field = Math.floor(tag / 8);
    const wire = tag % 8;
    if (field === 0) bad('the protobuf body holds field number 0');
    if (wire === 0) varint();
    else if (wire === 1) skip(8);
    else if (wire === 5) skip(4);
    else if (wire === 2) {
      const len = varint();
      const start = at;
      skip(len);
      fields.set(field, buf.subarray(start, start + len));
    } else bad(`the protobuf body holds unsupported wire type ${wire}`);
  }
  return fields;
}

/**
 * The apiVersion and kind of a Kubernetes protobuf body (empty strings when
 * the envelope leaves them out); undefined for an empty body.
 */
export function protobufTypeMeta(body: Buffer): { apiVersion: string; kind: string } | undefined {
  if (body.length === 0) return undefined;
  if (body.length < MAGIC.length || !body.subarray(0, MAGIC.length).equals(MAGIC)) {
    bad(`provided data does not appear to be a protobuf message, expected prefix [${[...MAGIC].join(' ')}]`);
  }
  const unknown = lengthDelimitedFields(body.subarray(MAGIC.length));
  const typeMeta = lengthDelimitedFields(unknown.get(1) ?? Buffer.alloc(0));
  return { apiVersion: typeMeta.get(1)?.toString('utf8') ?? '', kind: typeMeta.get(2)?.toString('utf8') ?? '' };
}
