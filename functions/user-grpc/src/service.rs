//! UserService's rules apart from the host: which method a path names, and what a request
//! message must hold. Authorisation is the shared rule of `GET /api/v1/users/:id`
//! (`galley_common::edge::users_db::find_readable`), applied by the edge.

use galley_common::users::{User, UserId};
use prost::Message;

use galley_common::user_proto::{method_path, UserRequest, UserResponse, GET_USER_INFO};
use crate::status::{Code, Status};

/// The methods of `galley.user.v1.UserService`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rpc {
    GetUserInfo,
}

/// The method named by a request path, `/<package>.<service>/<method>`: anything else under
/// the service's route is `UNIMPLEMENTED`, as gRPC answers an unknown method.
pub fn rpc(path: &str) -> Result<Rpc, Status> {
    if path == method_path(GET_USER_INFO) {
        Ok(Rpc::GetUserInfo)
    } else {
        Err(Status::new(Code::Unimplemented, format!("unknown method {path}")))
    }
}

/// The user id a `UserRequest` asks for: not decodable, or not a UUID, is `INVALID_ARGUMENT`.
pub fn requested_user(message: &[u8]) -> Result<UserId, Status> {
    let request = UserRequest::decode(message).map_err(|_| Status::new(Code::InvalidArgument, "the message is not a UserRequest"))?;
    UserId::parse(&request.user_id).map_err(|_| Status::new(Code::InvalidArgument, "user_id must be a UUID"))
}

/// The answer for a user the caller may read.
pub fn user_response(user: User) -> UserResponse {
    UserResponse { username: user.username, mobile: user.mobile, id: user.id.as_str().to_string() }
}

/// The one answer for a user that is absent or not the caller's to read.
pub fn not_found() -> Status {
    Status::new(Code::NotFound, "no such user")
}

#[cfg(test)]
mod tests {
    use super::*;
    use galley_common::auth::Role;

    #[test]
    fn only_the_services_methods_are_implemented() {
        assert_eq!(rpc("/galley.user.v1.UserService/GetUserInfo"), Ok(Rpc::GetUserInfo));
        for path in [
            "/galley.user.v1.UserService/DeleteUser",
            "/galley.user.v1.UserService/GetUserInfo/x",
            "/galley.user.v1.UserService/getuserinfo",
            "/galley.user.v1.UserService/",
            "/galley.user.v2.UserService/GetUserInfo",
        ] {
            assert_eq!(rpc(path).map_err(|s| s.code), Err(Code::Unimplemented), "{path}");
        }
    }

    #[test]
    fn the_user_id_must_be_a_uuid_in_a_user_request() {
        let id = "7AB45F0F-9291-42EB-922D-130B806315C2";
        let message = UserRequest { user_id: id.into() }.encode_to_vec();
        assert_eq!(requested_user(&message).map(|u| u.as_str().to_string()), Ok(id.to_lowercase()));
        let bad = |user_id: &str| requested_user(&UserRequest { user_id: user_id.into() }.encode_to_vec()).map_err(|s| s.code);
        assert_eq!(bad("42"), Err(Code::InvalidArgument));
        assert_eq!(bad(""), Err(Code::InvalidArgument), "the default (absent) id");
        // Field 1 as a varint, where a string is declared: not a UserRequest.
        assert_eq!(requested_user(&[0x08, 0x01]).map_err(|s| s.code), Err(Code::InvalidArgument));
    }

    #[test]
    fn the_response_carries_the_canonical_id() {
        let user = User {
            id: UserId::parse("7AB45F0F-9291-42EB-922D-130B806315C2").unwrap(),
            username: "alice".into(),
            mobile: "13800138000".into(),
            role: Role::Customer,
            created_at: "2026-11-25T17:00:00Z".into(),
        };
        let response = user_response(user);
        assert_eq!(response.id, "7ab45f0f-9291-42eb-922d-130b806315c2");
        assert_eq!((response.username.as_str(), response.mobile.as_str()), ("alice", "13800138000"));
    }
}
