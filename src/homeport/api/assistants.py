"""The Assistants API's assistants: create, retrieve, modify, delete, list."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Depends
from sqlalchemy.orm import Session

from homeport.api.deps import ObjectIdentityDep, ProjectDep, ServicesDep
from homeport.api.json import JSONResponse
from homeport.api.pagination import PageParams, list_page, page_params, paginate
from homeport.api.tool_resources import checked_resources, vector_store_maker
from homeport.api.transactions import reads, writes
from homeport.api.validation import reject_nul
from homeport.api.wire.assistants import (
    CreateAssistantRequest,
    ModifyAssistantRequest,
    render_assistant,
)
from homeport.api.wire.common import render_deleted
from homeport.store.models import Agent
from homeport.store.repos import agents

router = APIRouter(tags=["Assistants"], dependencies=[Depends(reject_nul)])


@router.post("/assistants")
@writes
def create_assistant(
    body: CreateAssistantRequest,
    session: Session,
    services: ServicesDep,
    project_id: ProjectDep,
    identity: ObjectIdentityDep,
    background: BackgroundTasks,
) -> JSONResponse:
    fields = body.fields()
    fields["tool_resources"] = checked_resources(
        session,
        project_id,
        body.tool_resources,
        make_vector_store=vector_store_maker(
            session, services=services, project_id=project_id, background=background
        ),
    )
    agent = agents.create_agent(
        session,
        project_id=project_id,
        model=body.model,
        fields=fields,
        agent_id=identity[0],
        created_at=identity[1],
    )
    return JSONResponse(render_assistant(agent))


@router.get("/assistants")
@reads
def list_assistants(
    session: Session,
    project_id: ProjectDep,
    page: Annotated[PageParams, Depends(page_params)],
) -> JSONResponse:
    rows, has_more = paginate(session, agents.agents_query(project_id=project_id), Agent, page)
    return JSONResponse(list_page(rows, has_more, render_assistant))


@router.get("/assistants/{assistant_id}")
@reads
def retrieve_assistant(assistant_id: str, session: Session, project_id: ProjectDep) -> JSONResponse:
    agent = agents.get_agent(session, project_id=project_id, agent_id=assistant_id)
    return JSONResponse(render_assistant(agent))


@router.post("/assistants/{assistant_id}")
@writes
def modify_assistant(
    assistant_id: str, body: ModifyAssistantRequest, session: Session, project_id: ProjectDep
) -> JSONResponse:
    agent = agents.get_agent(session, project_id=project_id, agent_id=assistant_id)
    fields = body.fields()
    if "tool_resources" in body.model_fields_set:
        fields["tool_resources"] = checked_resources(session, project_id, body.tool_resources)
    agents.update_agent(session, agent=agent, fields=fields)
    return JSONResponse(render_assistant(agent))


@router.delete("/assistants/{assistant_id}")
@writes
def delete_assistant(assistant_id: str, session: Session, project_id: ProjectDep) -> JSONResponse:
    agents.delete_agent(session, project_id=project_id, agent_id=assistant_id)
    return JSONResponse(render_deleted(assistant_id, "assistant"))
