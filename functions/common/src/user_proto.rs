//! The user service's gRPC contract (`api/proto/galley/user/v1/user.proto`): its messages,
//! derived by hand with prost (no `protoc` at build time), and the names that make a method's
//! path. Shared by the server (user-grpc) and its callers (the e2e tests' tonic client). A
//! test reads the .proto and checks that every field's name, number and type agree with these
//! structs, so the two cannot drift apart.

/// `galley.user.v1.UserRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct UserRequest {
    #[prost(string, tag = "1")]
    pub user_id: String,
}

/// `galley.user.v1.UserResponse`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct UserResponse {
    #[prost(string, tag = "1")]
    pub username: String,
    #[prost(string, tag = "2")]
    pub mobile: String,
    #[prost(string, tag = "3")]
    pub id: String,
}

/// The package, service and method names of the .proto, which make the request path.
pub const PACKAGE: &str = "galley.user.v1";
pub const SERVICE: &str = "UserService";
pub const GET_USER_INFO: &str = "GetUserInfo";

/// The request path of a method: `/<package>.<service>/<method>`.
pub fn method_path(method: &str) -> String {
    format!("/{PACKAGE}.{SERVICE}/{method}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;
    use std::collections::BTreeMap;

    const PROTO: &str = include_str!("../../../api/proto/galley/user/v1/user.proto");

    /// The lines of the .proto outside comments.
    fn code_lines() -> impl Iterator<Item = &'static str> {
        PROTO.lines().map(|line| line.split("//").next().unwrap_or("").trim()).filter(|line| !line.is_empty())
    }

    /// `message <name> { <type> <field> = <number>; ... }` → field → (type, number).
    fn proto_fields(message: &str) -> BTreeMap<String, (String, u32)> {
        let mut fields = BTreeMap::new();
        let mut inside = false;
        for line in code_lines() {
            if line == format!("message {message} {{") {
                inside = true;
            } else if inside && line == "}" {
                return fields;
            } else if inside {
                let words: Vec<&str> = line.trim_end_matches(';').split_whitespace().collect();
                let [kind, name, "=", number] = words[..] else { panic!("unexpected line in {message}: {line}") };
                fields.insert(name.to_string(), (kind.to_string(), number.parse().expect("a field number")));
            }
        }
        panic!("no message {message} in user.proto")
    }

    /// The wire form of `message`: field number → (wire type, bytes) for length-delimited fields.
    fn wire_fields(encoded: &[u8]) -> BTreeMap<u32, (u8, Vec<u8>)> {
        let mut fields = BTreeMap::new();
        let mut rest = encoded;
        while let Some((&key, tail)) = rest.split_first() {
            // Every field number here is < 16, so the key is one byte; lengths are < 128.
            let (number, wire_type) = (u32::from(key >> 3), key & 7);
            let (&length, tail) = tail.split_first().expect("a length");
            let (value, tail) = tail.split_at(length as usize);
            fields.insert(number, (wire_type, value.to_vec()));
            rest = tail;
        }
        fields
    }

    /// Each field is given its own name as value; the .proto must put that name at that number.
    fn assert_agrees(message: &str, encoded: Vec<u8>) {
        let declared = proto_fields(message);
        let wire = wire_fields(&encoded);
        assert_eq!(declared.len(), wire.len(), "{message}: the .proto and the struct have different field counts");
        for (name, (kind, number)) in declared {
            assert_eq!(kind, "string", "{message}.{name}: only strings are mirrored here");
            let (wire_type, value) = wire.get(&number).unwrap_or_else(|| panic!("{message}.{name} = {number} is not in the struct"));
            assert_eq!(*wire_type, 2, "{message}.{name} is length-delimited");
            assert_eq!(String::from_utf8_lossy(value), name, "{message}: field {number} is `{name}` in the .proto");
        }
    }

    #[test]
    fn the_structs_mirror_the_proto() {
        assert_agrees("UserRequest", UserRequest { user_id: "user_id".into() }.encode_to_vec());
        let response = UserResponse { username: "username".into(), mobile: "mobile".into(), id: "id".into() };
        assert_agrees("UserResponse", response.encode_to_vec());
    }

    #[test]
    fn the_names_of_the_path_are_the_protos() {
        let lines: Vec<&str> = code_lines().collect();
        assert!(lines.contains(&format!("package {PACKAGE};").as_str()));
        assert!(lines.contains(&format!("service {SERVICE} {{").as_str()));
        assert!(lines.contains(&format!("rpc {GET_USER_INFO}(UserRequest) returns (UserResponse);").as_str()));
    }
}
